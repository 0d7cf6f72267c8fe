using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Scsi;
using IscsiUp.Io;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// A logged-in iSCSI session on one connection, in the full-feature phase (RFC 7143 section 4): many SCSI
/// commands in flight within the target's CmdSN window, immediate and unsolicited data, R2T-driven Data-Out,
/// Data-In straight into the caller's buffer, NOP pings both ways, asynchronous messages and logout.
/// One receive loop reads every PDU; senders share the connection under its write lock.
/// </summary>
public sealed partial class IscsiSession : IScsiSession, IAsyncDisposable
{
    public const int DefaultQueueDepth = 128;

    private readonly IscsiConnection _connection;
    private readonly PendingCommand[] _slots;
    private readonly ConcurrentStack<int> _freeSlots = new();
    private readonly SemaphoreSlim _slotsAvailable;
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _receiveLoop;
    private readonly Task _watchdog;
    private readonly object _sequenceLock = new();
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Pdu?>> _controlWaiters = new();
    private uint _nextCmdSN;
    private uint _expCmdSN;
    private uint _maxCmdSN;
    private uint _expStatSN;
    private uint _nextControlItt = 0x8000_0000;
    private TaskCompletionSource _windowOpened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _failure;
    private int _loggedOut;
    private int _nopReplyPending;

    private IscsiSession(IscsiConnection connection, LoginOptions options, LoginResult login, int queueDepth, RecoveryOptions errorHandling)
    {
        _connection = connection;
        Options = options;
        ErrorHandling = errorHandling;
        Parameters = login.Parameters;
        Tsih = login.Tsih;
        _nextCmdSN = login.NextCmdSN;
        _expCmdSN = login.NextCmdSN;
        _maxCmdSN = login.MaxCmdSN;
        _expStatSN = login.ExpStatSN;
        _slots = new PendingCommand[queueDepth];
        for (int i = queueDepth - 1; i >= 0; i--)
        {
            _slots[i] = new PendingCommand(i);
            _freeSlots.Push(i);
        }
        _slotsAvailable = new SemaphoreSlim(queueDepth, queueDepth);
        connection.Reader.HeaderDigest = connection.Writer.HeaderDigest = Parameters.HeaderDigest;
        connection.Reader.DataDigest = connection.Writer.DataDigest = Parameters.DataDigest;
        connection.Reader.MaxDataSegmentLength = Parameters.InitiatorMaxRecvDataSegmentLength;
        _receiveLoop = Task.Run(ReceiveLoopAsync);
        _watchdog = Task.Run(WatchdogLoopAsync);
    }

    public LoginOptions Options { get; }
    /// <summary>Command timeout and the error handling that follows it (the timeouts of <see cref="RecoveryOptions"/>).</summary>
    public RecoveryOptions ErrorHandling { get; }
    public SessionParameters Parameters { get; }
    public ushort Tsih { get; }
    public Portal Portal => _connection.Portal;
    public string? TargetName => Options.TargetName;

    /// <summary>Raised (once) when the connection fails or the target ends the session.</summary>
    public event Action<Exception>? Lost;

    /// <summary>Raised when the target asks for a logout (asynchronous event 1); the session logs out by itself.</summary>
    public event Action<string>? TargetEvent;

    /// <summary>Raised for a SCSI asynchronous event (asynchronous event 0): the LUN field and the sense data it
    /// carries, such as REPORTED LUNS DATA HAS CHANGED from a target that announces LUN changes without waiting
    /// for the next command.</summary>
    public event Action<ulong, SenseData>? AsyncSense;

    /// <summary>Set once the session can no longer carry commands.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>
    /// Connects to <paramref name="portal"/> and logs in, following redirections and falling back to CHAP MD5
    /// alone for targets that refuse a list of CHAP algorithms (<see cref="SessionConnector"/>). Sends follow
    /// <paramref name="schedule"/> (the session host's, shared with its NBD loops; null: the connection's own).
    /// </summary>
    public static async Task<IscsiSession> LoginAsync(Portal portal, LoginOptions options, CancellationToken ct = default, int queueDepth = DefaultQueueDepth,
        RecoveryOptions? errorHandling = null, SendSchedule? schedule = null)
    {
        var login = await SessionConnector.ConnectAsync(portal, options, ct, schedule).ConfigureAwait(false);
        try
        {
            return new IscsiSession(login.Connection, login.Options, login.Result, queueDepth, errorHandling ?? new RecoveryOptions());
        }
        catch
        {
            await login.Connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends a SCSI command and waits for its status. Data moves directly into/out of the command's buffers.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default)
    {
        ThrowIfFailed();
        await _slotsAvailable.WaitAsync(ct).ConfigureAwait(false);
        _freeSlots.TryPop(out int slotIndex);
        var slot = _slots[slotIndex];
        try
        {
            slot.Start(command);
            try
            {
                await SendCommandAsync(slot, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested && !slot.Sent)
            {
                throw; // gave up waiting for the command window: nothing reached the wire
            }
            catch (Exception e)
            {
                // A half-sent command leaves the connection unusable; whatever the socket said, callers
                // see one kind of error, the one that tells a recovering session to reconnect.
                Fail(new SessionLostException($"sending to {TargetName} at {Portal} failed: {e.Message}", e));
                ThrowIfFailed();
                throw;
            }
            return await slot.Task.ConfigureAwait(false);
        }
        finally
        {
            // A Data-Out sequence still being written reads the caller's buffer under this slot's tag: the caller
            // gets neither back before it is done (rare: a target that completed a write early).
            await slot.DataOutDone().ConfigureAwait(false);
            slot.Release();
            _freeSlots.Push(slotIndex);
            _slotsAvailable.Release();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendCommandAsync(PendingCommand slot, CancellationToken ct)
    {
        var command = slot.Command;
        int length = command.ExpectedLength;
        int immediate = 0, unsolicited = 0;
        if (command.IsWrite)
        {
            int limit = Parameters.UnsolicitedDataLimit;
            unsolicited = Math.Min(length, limit);
            immediate = Parameters.ImmediateData ? Math.Min(unsolicited, Parameters.TargetMaxRecvDataSegmentLength) : 0;
            if (Parameters.InitialR2T) unsolicited = immediate;
        }

        var pdu = slot.CommandPdu;
        pdu.Reset();
        pdu.Opcode = Opcode.ScsiCommand;
        pdu.Final = unsolicited == immediate;
        pdu.IsRead = command.IsRead;
        pdu.IsWrite = command.IsWrite;
        pdu.TaskAttribute = TaskAttribute.Simple;
        pdu.Lun = command.Lun;
        pdu.InitiatorTaskTag = slot.Itt;
        pdu.ExpectedDataTransferLength = (uint)length;
        command.Cdb.Span.CopyTo(pdu.Cdb);
        if (immediate > 0) pdu.SetData(command.WriteBuffer[..immediate]);

        while (true)
        {
            Task windowOpened;
            await using (var writer = await _connection.LockForWritingAsync(ct).ConfigureAwait(false))
            {
                ThrowIfFailed();
                lock (_sequenceLock)
                {
                    windowOpened = _windowOpened.Task;
                    if (SerialNumber.LessOrEqual(_nextCmdSN, _maxCmdSN))
                    {
                        slot.CmdSN = _nextCmdSN++;
                        pdu.CmdSN = slot.CmdSN;
                        pdu.ExpStatSN = _expStatSN;
                        windowOpened = Task.CompletedTask;
                    }
                }
                if (windowOpened.IsCompleted)
                {
                    // Once a CmdSN is taken the command must go out whole: no caller cancellation from here on.
                    slot.Sent = true;
                    await writer.WriteAsync(pdu, _closing.Token).ConfigureAwait(false);
                    if (unsolicited > immediate)
                        await WriteDataOutAsync(writer, slot, Pdu.ReservedTag, immediate, unsolicited - immediate, _closing.Token).ConfigureAwait(false);
                    return;
                }
            }
            // The target's command window is closed: wait until a response moves MaxCmdSN on.
            await windowOpened.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Writes Data-Out PDUs for one sequence (unsolicited, or one R2T), each no longer than the target accepts.
    /// A long sequence is queued and sent in one vectored send with the caller's buffer as the payloads (no copy of
    /// small PDUs into the write buffer, one system call instead of one per PDU or per 64 KiB); a short one is copied
    /// and coalesced with other PDUs like any PDU.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteDataOutAsync(IscsiConnection.WriteScope writer, PendingCommand slot, uint ttt, int offset, int length, CancellationToken ct)
    {
        using var pdu = new Pdu();
        int maxSegment = Parameters.TargetMaxRecvDataSegmentLength;
        bool byReference = length >= GatheredSequenceLength;
        uint dataSN = 0;
        try
        {
            for (int sent = 0; sent < length;)
            {
                if (ttt != Pdu.ReservedTag && slot.IsCompleted) break; // the target ended the command early: no more data
                int chunk = Math.Min(maxSegment, length - sent);
                pdu.Reset();
                pdu.Opcode = Opcode.DataOut;
                pdu.Final = sent + chunk == length;
                pdu.Lun = slot.Command.Lun;
                pdu.InitiatorTaskTag = slot.Itt;
                pdu.TargetTransferTag = ttt;
                pdu.ExpStatSN = Volatile.Read(ref _expStatSN);
                pdu.DataSN = dataSN++;
                pdu.BufferOffset = (uint)(offset + sent);
                pdu.SetData(slot.Command.WriteBuffer.Slice(offset + sent, chunk));
                if (byReference) await writer.QueueAsync(pdu, ct).ConfigureAwait(false);
                else await writer.WriteAsync(pdu, ct).ConfigureAwait(false);
                sent += chunk;
            }
        }
        catch when (byReference)
        {
            writer.DiscardQueued(); // nothing of a failed sequence may go out later, when the caller's buffer is reused
            throw;
        }
        // Out before the caller may reuse its buffer.
        if (byReference) await writer.SendQueuedAsync(ct).ConfigureAwait(false);
    }

    /// <summary>From this length on a Data-Out sequence is sent by reference (<see cref="WriteDataOutAsync"/>): half
    /// the connection's 64 KiB write buffer, where a payload stops being worth copying.</summary>
    private const int GatheredSequenceLength = 32 * 1024;

    private async Task ReceiveLoopAsync()
    {
        var pdu = new Pdu();
        var ct = _closing.Token;
        try
        {
            while (await _connection.Reader.ReadHeaderAsync(pdu, ct).ConfigureAwait(false))
            {
                switch (pdu.Opcode)
                {
                    case Opcode.DataIn: await OnDataInAsync(pdu, ct).ConfigureAwait(false); break;
                    case Opcode.ScsiResponse: await OnScsiResponseAsync(pdu, ct).ConfigureAwait(false); break;
                    case Opcode.ReadyToTransfer: OnReadyToTransfer(pdu); break;
                    case Opcode.NopIn: await OnNopInAsync(pdu, ct).ConfigureAwait(false); break;
                    case Opcode.AsyncMessage: await OnAsyncMessageAsync(pdu, ct).ConfigureAwait(false); break;
                    case Opcode.Reject: await OnRejectAsync(pdu, ct).ConfigureAwait(false); break;
                    case Opcode.LogoutResponse or Opcode.TextResponse or Opcode.TaskManagementResponse:
                        await OnControlResponseAsync(pdu, ct).ConfigureAwait(false);
                        pdu = new Pdu(); // handed to its waiter
                        break;
                    default:
                        throw new ProtocolException($"target sent an unexpected {pdu.Opcode} PDU (opcode 0x{(byte)pdu.Opcode:x2})");
                }
            }
            Fail(new SessionLostException(Volatile.Read(ref _loggedOut) != 0
                ? $"logged out of {TargetName} at {Portal}"
                : $"target {TargetName} at {Portal} closed the connection"));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Fail(new SessionLostException($"session to {TargetName} at {Portal} was closed"));
        }
        catch (Exception e)
        {
            Fail(new SessionLostException($"connection to {TargetName} at {Portal} failed: {e.Message}", e));
        }
        finally
        {
            // Replies to commands answered just before the end must still reach their (healthy) NBD clients.
            _connection.Schedule.Push();
            pdu.Dispose();
        }
    }

    private void UpdateWindow(Pdu pdu)
    {
        uint expCmdSN = pdu.ExpCmdSN, maxCmdSN = pdu.MaxCmdSN;
        // RFC 7143 4.2.2.1: ignore the pair when MaxCmdSN+1 < ExpCmdSN (a closed, invalid window).
        if (SerialNumber.LessThan(maxCmdSN + 1, expCmdSN)) return;
        TaskCompletionSource? opened = null;
        lock (_sequenceLock)
        {
            if (SerialNumber.GreaterThan(expCmdSN, _expCmdSN)) _expCmdSN = expCmdSN;
            if (SerialNumber.GreaterThan(maxCmdSN, _maxCmdSN))
            {
                _maxCmdSN = maxCmdSN;
                opened = _windowOpened;
                _windowOpened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        opened?.TrySetResult();
    }

    private void UpdateStatSN(uint statSN)
    {
        lock (_sequenceLock)
        {
            if (SerialNumber.LessOrEqual(_expStatSN, statSN)) _expStatSN = statSN + 1;
        }
    }

    private PendingCommand? FindSlot(uint itt)
    {
        int index = (int)(itt & 0xFFFF);
        if ((itt & 0x8000_0000) != 0 || index >= _slots.Length) return null;
        var slot = _slots[index];
        return slot.Itt == itt && !slot.IsCompleted ? slot : null;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask OnDataInAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        var slot = FindSlot(pdu.InitiatorTaskTag)
            ?? throw new ProtocolException($"Data-In for unknown task 0x{pdu.InitiatorTaskTag:x8}");
        var buffer = slot.Command.ReadBuffer;
        long offset = pdu.BufferOffset, length = pdu.DataSegmentLength;
        if (offset + length > buffer.Length)
            throw new ProtocolException($"Data-In at offset {offset} length {length} overruns the {buffer.Length}-byte read buffer");
        // We offer DataPDUInOrder=Yes and DataSequenceInOrder=Yes, and both keys are ORed (RFC 7143 13.19, 13.20):
        // read data arrives in order, each PDU where the previous one ended, numbered 0, 1, 2... A gap, an overlap
        // or a lost PDU breaks that, and at error recovery level 0 it is a connection failure, as in open-iscsi.
        if (pdu.DataSN != slot.NextDataSN)
            throw new ProtocolException($"Data-In numbered {pdu.DataSN} where {slot.NextDataSN} was due (task 0x{slot.Itt:x8}): read data lost or reordered");
        if (length > 0 && offset != slot.BytesReceived)
            throw new ProtocolException($"Data-In at offset {offset} where offset {slot.BytesReceived} was due (task 0x{slot.Itt:x8}): " +
                                        (offset < slot.BytesReceived ? "overlapping read data" : "a gap in the read data"));
        await _connection.Reader.ReadDataAsync(pdu, buffer.Slice((int)offset, (int)length), ct).ConfigureAwait(false);
        slot.NextDataSN++;
        slot.BytesReceived += (int)length;
        if (pdu.HasStatus)
        {
            UpdateStatSN(pdu.StatSN);
            Complete(slot, new ScsiResult(pdu.Status, null, (int)pdu.ResidualCount, pdu.ResidualUnderflow, pdu.ResidualOverflow));
        }
    }

    /// <summary>
    /// A status that reports data must match the data that came: GOOD with fewer bytes than the residual leaves
    /// (RFC 7143 11.4.5) would hand the caller buffer bytes the target never wrote (a pooled buffer: another
    /// request's data). Null when the two agree.
    /// </summary>
    private IOException? CheckTransferred(PendingCommand slot, in ScsiResult result)
    {
        if (!result.IsGood) return null; // sense or a failure status: the data is not used
        int expected = slot.Command.ReadBuffer.Length;
        if (result.Underflow && result.Overflow)
            return Mismatch(slot, "set both the underflow and the overflow bit");
        if (result.Underflow && (uint)result.ResidualCount > (uint)expected)
            return Mismatch(slot, $"an underflow residual of {(uint)result.ResidualCount} bytes, more than the {expected} expected");
        int due = result.Transferred(expected);
        return slot.BytesReceived == due ? null : Mismatch(slot, $"sent {slot.BytesReceived} of the {due} data bytes it reported; the data is not used");
    }

    private IOException Mismatch(PendingCommand slot, string what) =>
        new($"target {TargetName} at {Portal} answered {ScsiOpcode.Name(slot.Command.Cdb.Span)} with GOOD status but {what}");

    /// <summary>Completes a command from the receive loop. Its caller may resume inside this call; what it sends
    /// (an NBD reply, the next command) is held until the loop next waits.</summary>
    private void Complete(PendingCommand slot, ScsiResult result)
    {
        var mismatch = CheckTransferred(slot, result);
        using (_connection.Schedule.Hold())
        {
            if (mismatch is null) slot.TryComplete(result);
            else slot.TryFail(mismatch);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask OnScsiResponseAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        UpdateStatSN(pdu.StatSN);
        await _connection.Reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
        var slot = FindSlot(pdu.InitiatorTaskTag)
            ?? throw new ProtocolException($"SCSI Response for unknown task 0x{pdu.InitiatorTaskTag:x8}");
        if (pdu.Response != 0)
        {
            slot.TryFail(new IOException($"target {TargetName} could not complete the command (iSCSI response 0x{pdu.Response:x2})"));
            return;
        }
        byte[]? sense = null;
        var data = pdu.Data.Span;
        if (data.Length >= 2)
        {
            int senseLength = Math.Min((data[0] << 8) | data[1], data.Length - 2);
            if (senseLength > 0) sense = data.Slice(2, senseLength).ToArray();
        }
        Complete(slot, new ScsiResult(pdu.Status, sense, (int)pdu.ResidualCount, pdu.ResidualUnderflow, pdu.ResidualOverflow));
    }

    private void OnReadyToTransfer(Pdu pdu)
    {
        UpdateWindow(pdu);
        var slot = FindSlot(pdu.InitiatorTaskTag)
            ?? throw new ProtocolException($"R2T for unknown task 0x{pdu.InitiatorTaskTag:x8}");
        long offset = pdu.BufferOffset, length = pdu.DesiredDataTransferLength;
        if (!slot.Command.IsWrite || length == 0 || offset + length > slot.Command.WriteBuffer.Length)
            throw new ProtocolException($"R2T asks for offset {offset} length {length}, outside the {slot.Command.WriteBuffer.Length}-byte write");
        // The slot (and the caller's buffer) stays ours until this send is over: ExecuteAsync waits for it.
        slot.DataOutStarted();
        _ = SendSolicitedDataAsync(slot, pdu.TargetTransferTag, (int)offset, (int)length);
    }

    /// <summary>Answers one R2T. Started from the receive loop and run there up to its first real wait (a busy
    /// write lock or a full socket), where the loop goes back to reading: no thread-pool hop per R2T, which cost
    /// a thread wake-up per large write.</summary>
    private async Task SendSolicitedDataAsync(PendingCommand slot, uint ttt, int offset, int length)
    {
        try
        {
            await using var writer = await _connection.LockForWritingAsync(_closing.Token).ConfigureAwait(false);
            await WriteDataOutAsync(writer, slot, ttt, offset, length, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Fail(new SessionLostException($"sending data to {TargetName} at {Portal} failed: {e.Message}", e));
        }
        finally
        {
            slot.DataOutFinished();
        }
    }

    private async ValueTask OnNopInAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        await _connection.Reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
        if (pdu.TargetTransferTag != Pdu.ReservedTag)
        {
            // The target pings us: answer with its TTT and the same data.
            UpdateStatSN(pdu.StatSN);
            var reply = new Pdu(Opcode.NopOut, immediate: true);
            reply.Lun = pdu.Lun;
            reply.InitiatorTaskTag = Pdu.ReservedTag;
            reply.TargetTransferTag = pdu.TargetTransferTag;
            lock (_sequenceLock) { reply.CmdSN = _nextCmdSN; reply.ExpStatSN = _expStatSN; }
            // One answer in flight at most: a target that pings but does not read cannot make us hoard copies.
            if (Interlocked.CompareExchange(ref _nopReplyPending, 1, 0) != 0) { reply.Dispose(); return; }
            if (pdu.DataSegmentLength > 0) reply.SetData(pdu.Data.ToArray());
            _ = SendNopReplyAsync(reply);
            return;
        }
        if (pdu.InitiatorTaskTag != Pdu.ReservedTag)
        {
            UpdateStatSN(pdu.StatSN);
            if (_controlWaiters.TryRemove(pdu.InitiatorTaskTag, out var waiter)) waiter.TrySetResult(null);
        }
    }

    private async Task SendNopReplyAsync(Pdu pdu)
    {
        try { await _connection.SendAsync(pdu, _closing.Token).ConfigureAwait(false); }
        catch (Exception e) { Fail(new SessionLostException($"sending to {Portal} failed: {e.Message}", e)); }
        finally
        {
            pdu.Dispose();
            Volatile.Write(ref _nopReplyPending, 0);
        }
    }

    private async ValueTask OnAsyncMessageAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        UpdateStatSN(pdu.StatSN);
        byte asyncEvent = pdu.AsyncEvent;
        if (asyncEvent == 0)
        {
            await _connection.Reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
            OnAsyncSense(pdu.Lun, pdu.Data.Span);
            return;
        }
        await _connection.Reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
        switch (asyncEvent)
        {
            case 1:
                TargetEvent?.Invoke($"target {TargetName} at {Portal} requests logout within {pdu.AsyncParameter3} s");
                _ = Task.Run(() => LogoutAsync(CancellationToken.None));
                break;
            case 2:
            case 3:
                TargetEvent?.Invoke($"target {TargetName} at {Portal} will drop the {(asyncEvent == 2 ? "connection" : "session")}");
                break;
            case 4:
                TargetEvent?.Invoke($"target {TargetName} at {Portal} requests parameter renegotiation (ignored)");
                break;
            default:
                TargetEvent?.Invoke($"target {TargetName} at {Portal} sent asynchronous event {asyncEvent}");
                break;
        }
    }

    /// <summary>The data segment of a SCSI asynchronous event: SenseLength (2 bytes), then the sense data (RFC 7143
    /// section 11.9.4). One without readable sense is logged and otherwise ignored.</summary>
    private void OnAsyncSense(ulong lun, ReadOnlySpan<byte> data)
    {
        int length = data.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(data) : 0;
        if (length > data.Length - 2 || SenseData.Parse(data.Slice(2, length)) is not { } sense)
        {
            TargetEvent?.Invoke($"target {TargetName} at {Portal} sent a SCSI asynchronous event without readable sense data (ignored)");
            return;
        }
        AsyncSense?.Invoke(lun, sense);
    }

    private async ValueTask OnRejectAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        UpdateStatSN(pdu.StatSN);
        await _connection.Reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
        byte reason = pdu.RejectReason;
        var rejected = pdu.Data.Span;
        if (rejected.Length < Pdu.BhsLength) throw new ProtocolException($"target rejected a PDU (reason 0x{reason:x2}) without quoting it");
        uint itt = Pdu.QuotedInitiatorTaskTag(rejected);
        var error = new IOException($"target {TargetName} rejected a {Pdu.QuotedOpcode(rejected)} PDU (reason 0x{reason:x2})");
        if (FindSlot(itt) is { } slot) slot.TryFail(error);
        else if (_controlWaiters.TryRemove(itt, out var waiter)) waiter.TrySetException(error);
    }

    private async ValueTask OnControlResponseAsync(Pdu pdu, CancellationToken ct)
    {
        UpdateWindow(pdu);
        UpdateStatSN(pdu.StatSN);
        await _connection.Reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
        if (_controlWaiters.TryRemove(pdu.InitiatorTaskTag, out var waiter)) waiter.TrySetResult(pdu);
        else pdu.Dispose();
    }

    /// <summary>Sends a non-SCSI request that takes a CmdSN (Text, Logout, NOP, TMF) and waits for its answer PDU.</summary>
    private async Task<Pdu?> RequestAsync(Pdu request, bool immediate, CancellationToken ct, TimeSpan? timeout = null)
    {
        ThrowIfFailed();
        uint itt = Interlocked.Increment(ref _nextControlItt) | 0x8000_0000;
        if (itt == Pdu.ReservedTag) itt = Interlocked.Increment(ref _nextControlItt) | 0x8000_0000;
        request.InitiatorTaskTag = itt;
        request.Immediate = immediate;
        var waiter = new TaskCompletionSource<Pdu?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _controlWaiters[itt] = waiter;
        var limit = timeout ?? Options.Timeout;
        var sent = new StrongBox<bool>();
        // The bound covers sending too: a target that stops reading fills the socket, and the write lock with it.
        var exchange = SendRequestAsync(request, immediate, waiter, sent, ct);
        try
        {
            return await exchange.WaitAsync(limit, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _ = exchange.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            string message = $"target {TargetName} at {Portal} did not answer a {request.Opcode} within {limit.TotalSeconds:0} s";
            // Still stuck sending: the connection cannot carry anything else either.
            if (!sent.Value) Fail(new SessionLostException($"{message} (the connection does not take data)"));
            throw new IOException(message);
        }
        finally
        {
            _controlWaiters.TryRemove(itt, out _);
        }
    }

    private async Task<Pdu?> SendRequestAsync(Pdu request, bool immediate, TaskCompletionSource<Pdu?> waiter, StrongBox<bool> sent, CancellationToken ct)
    {
        await using (var writer = await _connection.LockForWritingAsync(ct).ConfigureAwait(false))
        {
            lock (_sequenceLock)
            {
                request.CmdSN = immediate ? _nextCmdSN : _nextCmdSN++;
                request.ExpStatSN = _expStatSN;
            }
            await writer.WriteAsync(request, ct).ConfigureAwait(false);
        }
        sent.Value = true;
        return await waiter.Task.ConfigureAwait(false);
    }

    /// <summary>Sends a NOP-Out ping and waits for the NOP-In; returns the round-trip time.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken ct = default, TimeSpan? timeout = null)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var nop = new Pdu(Opcode.NopOut);
        nop.TargetTransferTag = Pdu.ReservedTag;
        await RequestAsync(nop, immediate: true, ct, timeout).ConfigureAwait(false);
        return System.Diagnostics.Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Drops the connection at once (a dead peer, a failed ping): pending commands fail with <see cref="SessionLostException"/>.</summary>
    public void Abort(string reason) => Fail(new SessionLostException(reason));

    /// <summary>A Text request/response exchange, following the Continue bit for long answers (SendTargets).</summary>
    public async Task<TextKeys> TextAsync(TextKeys keys, CancellationToken ct = default)
    {
        var answer = new MemoryStream();
        uint ttt = Pdu.ReservedTag;
        byte[] payload = keys.Encode();
        for (int round = 0; round < 1024; round++)
        {
            using var request = new Pdu(Opcode.TextRequest);
            request.TargetTransferTag = ttt;
            request.SetData(payload);
            using var response = await RequestAsync(request, immediate: false, ct).ConfigureAwait(false)
                ?? throw new ProtocolException("no Text response");
            if (answer.Length + response.DataSegmentLength > 16 * 1024 * 1024)
                throw new ProtocolException("Text response longer than 16 MiB");
            answer.Write(response.Data.Span);
            bool more = response.Continue;
            if (!more && response.Final) return TextKeys.Parse(answer.ToArray());
            ttt = response.TargetTransferTag;
            payload = [];
        }
        throw new ProtocolException("Text response did not end after 1024 PDUs");
    }

    /// <summary>Logs out (closes the session) and closes the connection. Safe to call more than once.</summary>
    public async Task LogoutAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _loggedOut, 1) != 0 || Failure is not null)
        {
            await DisposeAsync().ConfigureAwait(false);
            return;
        }
        try
        {
            using var logout = new Pdu(Opcode.LogoutRequest);
            logout.LogoutReason = 0; // close the session
            using var response = await RequestAsync(logout, immediate: true, ct).ConfigureAwait(false);
            if (response is not null && response.Response != 0)
                throw new IOException($"target {TargetName} refused the logout (response {response.Response})");
        }
        finally
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    private void ThrowIfFailed()
    {
        if (Failure is { } failure) throw failure as SessionLostException ?? new SessionLostException(failure.Message, failure);
    }

    private void Fail(Exception error)
    {
        if (Interlocked.CompareExchange(ref _failure, error, null) != null) return;
        _connection.Abort();
        // Announce the loss before failing the commands: whoever sees a command fail can count on Lost having run.
        if (Volatile.Read(ref _loggedOut) == 0) Lost?.Invoke(error);
        foreach (var slot in _slots) slot.TryFail(error);
        foreach (var waiter in _controlWaiters.Values) waiter.TrySetException(error);
        lock (_sequenceLock) _windowOpened.TrySetException(error);
    }

    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _loggedOut, 1);
        Fail(new SessionLostException($"session to {TargetName} at {Portal} was closed"));
        _closing.Cancel();
        try { await _receiveLoop.ConfigureAwait(false); } catch { /* already reported through Fail */ }
        try { await _watchdog.ConfigureAwait(false); } catch { /* ends with the session */ }
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
