using LunAddress = IscsiUp.Iscsi.Scsi.LunAddress;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.TestTarget.Scsi;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// One initiator connection: login, then the full-feature phase. A single reader loop takes PDUs off the
/// socket in order (so CmdSN checks, Data-Out placement and R2T decisions need no locks); commands then run
/// concurrently and their responses go through the connection's <see cref="PduSendQueue"/>. Anything
/// malformed ends this connection with a logged reason and never touches the rest of the target.
/// </summary>
public sealed class TargetConnection
{
    /// <summary>Data-Out buffered for one command at most; larger commands fail with INVALID FIELD IN CDB.</summary>
    public const int MaxCommandData = 16 << 20;

    private const int MaxTextRequest = 64 * 1024;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private readonly IscsiTarget _target;
    private readonly Socket _socket;
    private readonly PduReader _reader;
    private readonly PduWriter _writer;
    private readonly CancellationTokenSource _cts;
    private readonly ConcurrentDictionary<uint, ScsiTask> _tasks = new();
    private PduSendQueue? _sender;
    private TargetSession? _session;
    private ushort _cid;
    private int _nextTtt;
    private string? _closeReason;

    // Text negotiation in progress (one at a time per connection).
    private uint _textItt = Pdu.ReservedTag;
    private MemoryStream? _textRequest;
    private TextResponseSplitter? _textResponse;
    private uint _textTtt = Pdu.ReservedTag;

    // Target-initiated NOP-In ping.
    private uint _pingTtt = Pdu.ReservedTag;
    private volatile bool _pingOutstanding;

    public TargetConnection(IscsiTarget target, Socket socket, CancellationToken targetToken)
    {
        _target = target;
        _socket = socket;
        Peer = socket.RemoteEndPoint?.ToString() ?? "?";
        var stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new PduReader(new BufferedStream(stream, 64 * 1024));
        _writer = new PduWriter(new BufferedStream(stream, 64 * 1024));
        _cts = CancellationTokenSource.CreateLinkedTokenSource(targetToken);
    }

    public string Peer { get; }

    /// <summary>The session, once the login succeeded.</summary>
    public TargetSession? Session => _session;

    /// <summary>Commands currently in flight.</summary>
    public int RunningCommands => _tasks.Count;

    private TargetOptions Options => _target.Options;

    /// <summary>Closes the connection now; running commands are cancelled.</summary>
    public void Abort(string reason)
    {
        _closeReason ??= reason;
        try { _cts.Cancel(); } catch (ObjectDisposedException) { }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
    }

    public async Task RunAsync()
    {
        Task writer = Task.CompletedTask;
        Task pinger = Task.CompletedTask;
        try
        {
            if (!await LoginAsync().ConfigureAwait(false)) return;
            writer = RunWriterAsync();
            if (Options.NopInInterval is { } interval) pinger = PingAsync(interval, _cts.Token);
            await ReadLoopAsync(_cts.Token).ConfigureAwait(false);
        }
        catch (ProtocolException e)
        {
            _closeReason ??= $"protocol error: {e.Message}";
            _target.CountProtocolError();
        }
        catch (OperationCanceledException) when (_cts.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            _closeReason ??= e is EndOfStreamException ? "initiator closed the connection in the middle of a PDU" : $"connection lost: {e.Message}";
        }
        catch (Exception e)
        {
            _closeReason ??= $"internal error: {e.GetType().Name}: {e.Message}";
            _target.CountProtocolError();
        }
        finally
        {
            await CleanupAsync(writer, pinger).ConfigureAwait(false);
        }
    }

    private async Task<bool> LoginAsync()
    {
        _reader.MaxDataSegmentLength = Math.Max(8192, Options.MaxRecvDataSegmentLength);
        using var loginTimeout = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        loginTimeout.CancelAfter(Options.LoginTimeout);
        using var first = new Pdu();
        var login = new TargetLogin(Options, _reader, _writer, _target.AllocateTsih, Peer);
        LoginOutcome? outcome;
        try
        {
            if (!await _reader.ReadPduAsync(first, loginTimeout.Token).ConfigureAwait(false))
            {
                _closeReason ??= "closed before logging in";
                return false;
            }
            outcome = await login.RunAsync(first, loginTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (loginTimeout.IsCancellationRequested && !_cts.IsCancellationRequested)
        {
            _closeReason ??= $"login did not finish within {Options.LoginTimeout.TotalSeconds:0} s";
            _target.CountLoginFailure();
            return false;
        }
        if (outcome is null)
        {
            if (login.FailureReason is { } reason)
            {
                _closeReason ??= $"login refused with status 0x{login.FailureStatus:x4}: {reason}";
                _target.CountLoginFailure();
            }
            else _closeReason ??= "initiator went away during login";
            return false;
        }

        var window = new CommandWindow(outcome.FirstCmdSN, Options.CommandWindow);
        // Every normal session is an I_T nexus that LUN changes raise unit attentions on; power-on only when asked.
        UnitAttentionState? attention = outcome.IsDiscovery ? null : new UnitAttentionState();
        if (Options.ReportPowerOnUnitAttention && attention is not null)
        {
            foreach (int lun in _target.Units.Luns) attention.Raise(lun, AdditionalSense.PowerOnOrReset);
        }
        _session = new TargetSession(outcome, window, attention);
        _cid = outcome.ConnectionId;
        SessionParameters parameters = outcome.Parameters;
        _sender = new PduSendQueue(_writer, window, outcome.NextStatSN);
        _target.SessionStarted(this);
        try
        {
            await login.SendFinalResponseAsync(loginTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (loginTimeout.IsCancellationRequested && !_cts.IsCancellationRequested)
        {
            _closeReason ??= "the final login response could not be sent in time";
            return false;
        }
        _reader.HeaderDigest = _writer.HeaderDigest = parameters.HeaderDigest;
        _reader.DataDigest = _writer.DataDigest = parameters.DataDigest;
        return true;
    }

    private async Task RunWriterAsync()
    {
        try
        {
            await _sender!.RunAsync(_cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Abort($"connection lost while sending: {e.Message}");
        }
    }

    private async Task ReadLoopAsync(CancellationToken ct)
    {
        using var pdu = new Pdu();
        while (true)
        {
            if (!await _reader.ReadHeaderAsync(pdu, ct).ConfigureAwait(false))
            {
                _closeReason ??= "initiator closed the connection";
                return;
            }
            switch (pdu.Opcode)
            {
                case Opcode.ScsiCommand:
                    await HandleCommandAsync(pdu, ct).ConfigureAwait(false);
                    continue;
                case Opcode.DataOut:
                    await HandleDataOutAsync(pdu, ct).ConfigureAwait(false);
                    continue;
            }
            await _reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
            switch (pdu.Opcode)
            {
                case Opcode.NopOut:
                    HandleNopOut(pdu);
                    break;
                case Opcode.TaskManagementRequest:
                    HandleTaskManagement(pdu);
                    break;
                case Opcode.TextRequest:
                    HandleText(pdu);
                    break;
                case Opcode.LogoutRequest:
                    if (await HandleLogoutAsync(pdu).ConfigureAwait(false)) return;
                    break;
                case Opcode.LoginRequest:
                    Reject(pdu, RejectReason.ProtocolError, "Login request in the full-feature phase");
                    break;
                case Opcode.SnackRequest:
                    Reject(pdu, RejectReason.ProtocolError, "SNACK at ErrorRecoveryLevel 0");
                    break;
                default:
                    Reject(pdu, RejectReason.CommandNotSupported, $"unknown opcode 0x{(byte)pdu.Opcode:x2}");
                    break;
            }
        }
    }

    /// <summary>CmdSN ordering for a numbered request; false when it must be dropped (RFC 7143 section 4.2.2.1).</summary>
    private bool Sequence(Pdu pdu, bool occupiesSlot)
    {
        if (pdu.Immediate) return true;
        CommandWindow window = _session!.Window;
        switch (window.Receive(pdu.CmdSN, occupiesSlot))
        {
            case CommandWindow.Verdict.Accept:
                return true;
            case CommandWindow.Verdict.Duplicate:
                Log($"dropped {pdu.Opcode} with CmdSN {pdu.CmdSN}: already received (ExpCmdSN {window.ExpCmdSN})");
                return false;
            default:
                Log($"dropped {pdu.Opcode} with CmdSN {pdu.CmdSN}: outside the window {window.ExpCmdSN}..{window.MaxCmdSN}");
                return false;
        }
    }

    private async Task HandleCommandAsync(Pdu pdu, CancellationToken ct)
    {
        TargetSession session = _session!;
        if (session.IsDiscovery)
        {
            await _reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
            Reject(pdu, RejectReason.ProtocolError, "SCSI command in a discovery session");
            return;
        }
        bool slot = !pdu.Immediate;
        if (!Sequence(pdu, slot))
        {
            await _reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
            return;
        }
        SessionParameters parameters = session.Parameters;
        uint itt = pdu.InitiatorTaskTag;
        bool final = pdu.Final;
        bool read = pdu.IsRead;
        bool write = pdu.IsWrite;
        uint expected = pdu.ExpectedDataTransferLength;
        int immediate = pdu.DataSegmentLength;
        if (_tasks.ContainsKey(itt) || itt == Pdu.ReservedTag)
        {
            await _reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
            if (slot) session.Window.Release();
            Reject(pdu, RejectReason.InvalidPduField, $"task tag 0x{itt:x8} is already in use");
            return;
        }
        if (immediate > 0 && (!write || !parameters.ImmediateData))
            throw new ProtocolException($"command 0x{itt:x8} carries {immediate} bytes of immediate data, which {(write ? "ImmediateData=No forbids" : "a command without the W bit cannot have")}");
        if (immediate > expected || immediate > parameters.FirstBurstLength)
            throw new ProtocolException($"command 0x{itt:x8} carries {immediate} bytes of immediate data, more than its expected length {expected} or FirstBurstLength {parameters.FirstBurstLength}");
        if (!final && (!write || parameters.InitialR2T))
            throw new ProtocolException($"command 0x{itt:x8} announces unsolicited Data-Out (F bit clear), which {(write ? "InitialR2T=Yes forbids" : "needs the W bit")}");

        byte[] cdb = pdu.Cdb.ToArray();
        long needed = write ? _target.Units.DataOutLength(pdu.Lun, cdb) : 0;
        ScsiResult? early = null;
        if (needed > MaxCommandData)
        {
            early = CheckConditionException.InvalidField(0).ToResult();
            needed = 0;
        }
        int wanted = (int)Math.Min(expected, needed);
        var task = new ScsiTask(itt, pdu.Lun, cdb, expected, read, write, needed, wanted, _cts.Token)
        {
            EarlyResult = early,
            HoldsWindowSlot = slot,
        };
        try
        {
            if (write || !final)
            {
                task.Tracker = new DataOutTracker(wanted, (int)Math.Min(expected, int.MaxValue), immediate, !final,
                    parameters.FirstBurstLength, parameters.MaxBurstLength, parameters.MaxOutstandingR2T);
            }
            await ReadIntoAsync(pdu, task.Buffer, 0, ct).ConfigureAwait(false);
        }
        catch
        {
            if (slot) session.Window.Release();
            task.Dispose();
            throw;
        }
        _tasks[itt] = task;
        if (task.Tracker is not { IsComplete: false }) task.DataReady.TrySetResult();
        else PostR2Ts(task);
        task.Completion = Task.Run(() => ExecuteAsync(task));
    }

    private async Task HandleDataOutAsync(Pdu pdu, CancellationToken ct)
    {
        if (!_tasks.TryGetValue(pdu.InitiatorTaskTag, out ScsiTask? task) || task.Tracker is null || task.DataReady.Task.IsCompleted)
        {
            // An aborted or already failed command: its data is no longer wanted.
            await _reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
            return;
        }
        string? error = task.Tracker.Accept(pdu.TargetTransferTag, pdu.DataSN, pdu.BufferOffset, pdu.DataSegmentLength, pdu.Final);
        if (error is not null)
        {
            // A broken data sequence ends the command (ErrorRecoveryLevel 0 has no retransmission), not the connection.
            Log($"{task}: {error}");
            await _reader.SkipDataAsync(pdu, ct).ConfigureAwait(false);
            task.EarlyResult ??= ScsiResult.CheckCondition(SenseKey.AbortedCommand, AdditionalSense.DataPhaseError);
            task.DataReady.TrySetResult();
            return;
        }
        await ReadIntoAsync(pdu, task.Buffer, (int)pdu.BufferOffset, ct).ConfigureAwait(false);
        if (task.Tracker.IsComplete) task.DataReady.TrySetResult();
        else PostR2Ts(task);
    }

    /// <summary>Reads the current PDU's data segment to <paramref name="offset"/> in <paramref name="buffer"/>; bytes past the buffer are dropped.</summary>
    private async Task ReadIntoAsync(Pdu pdu, Memory<byte> buffer, int offset, CancellationToken ct)
    {
        int length = pdu.DataSegmentLength;
        if (length == 0) return;
        if (offset + length <= buffer.Length)
        {
            await _reader.ReadDataAsync(pdu, buffer.Slice(offset, length), ct).ConfigureAwait(false);
            return;
        }
        await _reader.ReadDataAsync(pdu, ct).ConfigureAwait(false);
        if (offset < buffer.Length) pdu.Data.Span[..(buffer.Length - offset)].CopyTo(buffer.Span[offset..]);
        pdu.SetData(default);
    }

    private void PostR2Ts(ScsiTask task)
    {
        foreach (var burst in task.Tracker!.TakeR2Ts(NewTransferTag))
            _sender!.Post(TargetPdus.ReadyToTransfer(task.Itt, task.Lun, burst.Ttt, burst.R2TSN, (uint)burst.Offset, (uint)burst.Length), StatSnUse.Peek);
    }

    private uint NewTransferTag()
    {
        while (true)
        {
            uint tag = (uint)Interlocked.Increment(ref _nextTtt);
            if (tag != Pdu.ReservedTag) return tag;
        }
    }

    private async Task ExecuteAsync(ScsiTask task)
    {
        try
        {
            await task.DataReady.Task.WaitAsync(task.Cancellation.Token).ConfigureAwait(false);
            ScsiResult result;
            if (task.EarlyResult is { } early)
            {
                result = early;
                task.EarlyResult = null;
            }
            else
            {
                result = await _target.Units.ExecuteAsync(task.Lun, new ScsiRequest(task.Cdb, task.Buffer), _session!.Attention,
                    task.Cancellation.Token).ConfigureAwait(false);
            }
            using (result)
            {
                if (!task.TryClaimResponse()) return;
                await RespondAsync(task, result).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (task.Cancellation.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log($"{task} failed inside the target: {e.GetType().Name}: {e.Message}");
            if (task.TryClaimResponse() && !_cts.IsCancellationRequested)
            {
                using var failure = ScsiResult.CheckCondition(SenseKey.HardwareError, AdditionalSense.InternalTargetFailure);
                try { await RespondAsync(task, failure).ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        }
        finally
        {
            Finish(task);
            task.Dispose();
        }
    }

    /// <summary>Frees the task tag and the window slot. Done before the final response is queued, so the response already opens the window.</summary>
    private void Finish(ScsiTask task)
    {
        if (_tasks.TryRemove(new KeyValuePair<uint, ScsiTask>(task.Itt, task)) && task.HoldsWindowSlot)
        {
            task.HoldsWindowSlot = false;
            _session!.Window.Release();
        }
    }

    /// <summary>
    /// Data-In split by the initiator's MaxRecvDataSegmentLength (F bit at each MaxBurstLength sequence end), then the
    /// status: in the last Data-In when there is no sense data, otherwise in a SCSI Response.
    /// </summary>
    private async Task RespondAsync(ScsiTask task, ScsiResult result)
    {
        SessionParameters parameters = _session!.Parameters;
        long actual = task.IsWrite ? task.DataOutLength : result.Data.Length;
        var residual = Residual.Of(task.ExpectedLength, actual);
        ReadOnlyMemory<byte> data = task.IsRead ? result.Data[..(int)Math.Min(result.Data.Length, task.ExpectedLength)] : default;

        var pdus = new List<Pdu>();
        var uses = new List<StatSnUse>();
        int maxSegment = Math.Max(512, parameters.InitiatorMaxRecvDataSegmentLength);
        int burst = Math.Max(512, parameters.MaxBurstLength);
        uint dataSN = 0;
        for (int offset = 0; offset < data.Length;)
        {
            int sequenceEnd = (int)Math.Min(data.Length, ((long)offset / burst + 1) * burst);
            int length = Math.Min(maxSegment, sequenceEnd - offset);
            bool last = offset + length == sequenceEnd;
            pdus.Add(TargetPdus.DataIn(task.Itt, task.Lun, dataSN++, (uint)offset, data.Slice(offset, length), last));
            uses.Add(StatSnUse.None);
            offset += length;
        }
        if (pdus.Count > 0 && result.Sense.IsEmpty)
        {
            TargetPdus.AddStatus(pdus[^1], result.Status, residual);
            uses[^1] = StatSnUse.Advance;
        }
        else
        {
            uint expDataSN = task.IsRead ? dataSN : task.Tracker?.R2TCount ?? 0;
            pdus.Add(TargetPdus.ScsiResponse(task.Itt, result.Status, result.Sense.Span, residual, expDataSN));
            uses.Add(StatSnUse.Advance);
        }
        _target.CountCommand(task.IsRead ? data.Length : 0, task.IsWrite && result.Status == ScsiStatus.Good ? task.Wanted : 0);
        Finish(task);
        try
        {
            await _sender!.SendAsync(pdus.ToArray(), uses.ToArray()).ConfigureAwait(false);
        }
        catch (TaskCanceledException)
        {
            // The connection closed before the response went out.
        }
        finally
        {
            foreach (var pdu in pdus) pdu.Dispose();
        }
    }

    private void HandleNopOut(Pdu pdu)
    {
        if (pdu.InitiatorTaskTag == Pdu.ReservedTag)
        {
            // An answer to our ping (or a keep-alive that wants no answer).
            if (pdu.TargetTransferTag != Pdu.ReservedTag && pdu.TargetTransferTag == _pingTtt) _pingOutstanding = false;
            if (!pdu.Immediate) Sequence(pdu, occupiesSlot: false);
            return;
        }
        if (!Sequence(pdu, occupiesSlot: false)) return;
        int length = Math.Min(pdu.Data.Length, _session!.Parameters.InitiatorMaxRecvDataSegmentLength);
        _sender!.Post(TargetPdus.NopIn(pdu.InitiatorTaskTag, Pdu.ReservedTag, pdu.Lun, pdu.Data[..length].ToArray()), StatSnUse.Advance);
    }

    private void HandleTaskManagement(Pdu pdu)
    {
        if (!Sequence(pdu, occupiesSlot: false)) return;
        if (_session!.IsDiscovery)
        {
            Reject(pdu, RejectReason.ProtocolError, "task management in a discovery session");
            return;
        }
        byte function = pdu.TaskManagementFunction;
        uint itt = pdu.InitiatorTaskTag;
        uint referenced = pdu.ReferencedTaskTag;
        ulong lun = pdu.Lun;
        List<ScsiTask> victims = [];
        byte response = TaskManagement.FunctionComplete;
        switch (function)
        {
            case TaskManagement.AbortTask:
                // RFC 7143 section 11.5.1: a task already answered, or long gone, "does not exist"; one whose RefCmdSN
                // is still ahead of ExpCmdSN (not received yet) counts as received and aborted.
                if (_tasks.TryGetValue(referenced, out ScsiTask? task))
                {
                    victims.Add(task); // waited for either way: nothing of its may follow the TMF response
                    if (!task.TryAbort()) response = TaskManagement.TaskDoesNotExist;
                }
                else if (!SerialNumber.LessOrEqual(_session.Window.ExpCmdSN, pdu.RefCmdSN))
                {
                    response = TaskManagement.TaskDoesNotExist;
                }
                break;
            case TaskManagement.AbortTaskSet or TaskManagement.ClearTaskSet:
                victims.AddRange(_tasks.Values.Where(t => t.Lun == lun));
                break;
            case TaskManagement.LogicalUnitReset:
                if (_target.Units.Find(LunAddress.Decode(lun)) is null) response = TaskManagement.LunDoesNotExist;
                else victims.AddRange(_tasks.Values.Where(t => t.Lun == lun));
                break;
            case TaskManagement.TargetWarmReset or TaskManagement.TargetColdReset:
                victims.AddRange(_tasks.Values);
                break;
            case TaskManagement.TaskReassign:
                response = TaskManagement.ReassignNotSupported;
                break;
            default:
                response = TaskManagement.FunctionNotSupported;
                break;
        }
        int aborted = function == TaskManagement.AbortTask
            ? (response == TaskManagement.FunctionComplete ? victims.Count : 0)
            : victims.Count(victim => victim.TryAbort()); // the ones already answering are only waited for
        if (aborted > 0) Log($"task management function {function} aborted {aborted} command(s)");
        _ = RespondToTaskManagementAsync(itt, response, victims, function == TaskManagement.TargetColdReset);
    }

    /// <summary>The response follows the aborted tasks' end, so nothing of theirs is sent after it.</summary>
    private async Task RespondToTaskManagementAsync(uint itt, byte response, List<ScsiTask> victims, bool closeAfter)
    {
        try
        {
            await Task.WhenAll(victims.Select(v => v.Completion)).WaitAsync(DrainTimeout, _cts.Token).ConfigureAwait(false);
            await _sender!.SendAsync(TargetPdus.TaskManagementResponse(itt, response), StatSnUse.Advance).ConfigureAwait(false);
            if (closeAfter) Abort("TARGET COLD RESET");
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
        }
    }

    private void HandleText(Pdu pdu)
    {
        if (!Sequence(pdu, occupiesSlot: false)) return;
        uint itt = pdu.InitiatorTaskTag;
        if (pdu.TargetTransferTag != Pdu.ReservedTag && _textResponse is not null)
        {
            // The initiator asks for the next piece of our long answer.
            if (itt != _textItt || pdu.TargetTransferTag != _textTtt)
            {
                Reject(pdu, RejectReason.InvalidPduField, "Text request continues an unknown exchange");
                return;
            }
            SendTextPiece();
            return;
        }
        if (itt != _textItt)
        {
            // A new exchange replaces whatever was in progress.
            _textRequest = null;
            _textResponse = null;
            _textItt = itt;
        }
        _textRequest ??= new MemoryStream();
        _textRequest.Write(pdu.Data.Span);
        if (_textRequest.Length > MaxTextRequest) throw new ProtocolException($"text request longer than {MaxTextRequest} bytes");
        if (pdu.Continue)
        {
            // More request text follows: acknowledge with an empty response.
            _sender!.Post(TargetPdus.TextResponse(itt, Pdu.ReservedTag, pdu.Lun, default, final: false, more: false), StatSnUse.Advance);
            return;
        }
        TextKeys keys = TextKeys.Parse(_textRequest.ToArray());
        _textRequest = null;
        _textResponse = new TextResponseSplitter(AnswerText(keys).Encode(), _session!.Parameters.InitiatorMaxRecvDataSegmentLength);
        SendTextPiece();
    }

    private void SendTextPiece()
    {
        var (piece, more) = _textResponse!.Next();
        _textTtt = more ? NewTransferTag() : Pdu.ReservedTag;
        _sender!.Post(TargetPdus.TextResponse(_textItt, _textTtt, 0, piece, final: !more, more: more), StatSnUse.Advance);
        if (!more)
        {
            _textResponse = null;
            _textItt = Pdu.ReservedTag;
        }
    }

    private TextKeys AnswerText(TextKeys keys)
    {
        var reply = new TextKeys();
        foreach (var (key, value) in keys)
        {
            if (key == LoginKeys.SendTargets)
            {
                reply.AddRange(SendTargetsResponder.Answer(value, _session!.IsDiscovery, Options.TargetName,
                    [.. _target.PortalsSeenFrom((IPEndPoint)_socket.LocalEndPoint!).Distinct(), .. Options.AdvertisedPortals], Options.PortalGroupTag));
                continue;
            }
            if (KeyValues.IsSpecial(value)) continue;
            KeyDefinition? definition = LoginKeys.Find(key);
            if (definition is null) reply.Add(key, KeyValues.NotUnderstood);
            else if (key == LoginKeys.MaxRecvDataSegmentLength && KeyValues.TryParseNumber(value, out long length) && length >= definition.Min && length <= definition.Max)
                _session!.Parameters.InitiatorMaxRecvDataSegmentLength = (int)length; // declarative, may change in the full-feature phase
            else if (definition.Kind != KeyKind.Declarative)
                reply.Add(key, KeyValues.Reject); // no renegotiation after login
        }
        return reply;
    }

    /// <summary>Returns true when the connection is to close.</summary>
    private async Task<bool> HandleLogoutAsync(Pdu pdu)
    {
        if (!Sequence(pdu, occupiesSlot: false)) return false;
        int reason = pdu.LogoutReason;
        ushort cid = pdu.ConnectionId;
        byte response = 0;
        if (reason > 2)
        {
            Reject(pdu, RejectReason.ProtocolError, $"logout reason {reason}");
            return false;
        }
        if (reason != 0 && cid != _cid) response = 1; // CID not found
        else if (reason == 2) response = 2; // connection recovery is not supported
        if (response == 0)
        {
            // Let running commands finish so their responses precede the logout response.
            try
            {
                await Task.WhenAll(_tasks.Values.Select(t => t.Completion)).WaitAsync(DrainTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException) { }
        }
        try
        {
            await _sender!.SendAsync(TargetPdus.LogoutResponse(pdu.InitiatorTaskTag, response), StatSnUse.Advance).ConfigureAwait(false);
        }
        catch (TaskCanceledException)
        {
            return true;
        }
        if (response != 0) return false;
        _closeReason ??= reason == 0 ? "logout (close session)" : "logout (close connection)";
        return true;
    }

    private void Reject(Pdu pdu, byte reason, string why)
    {
        Log($"rejected {pdu.Opcode} PDU (itt 0x{pdu.InitiatorTaskTag:x8}): {why}");
        _sender?.Post(TargetPdus.Reject(reason, pdu.Bhs), StatSnUse.Advance);
    }

    private async Task PingAsync(TimeSpan interval, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(interval);
            int missed = 0;
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                if (_pingOutstanding)
                {
                    if (++missed >= 2)
                    {
                        Abort($"initiator did not answer NOP-In pings for {(interval * 2).TotalSeconds:0.#} s");
                        return;
                    }
                    continue;
                }
                missed = 0;
                _pingTtt = NewTransferTag();
                _pingOutstanding = true;
                _sender!.Post(TargetPdus.NopIn(Pdu.ReservedTag, _pingTtt, 0, default), StatSnUse.Peek);
            }
        }
        catch (OperationCanceledException) { }
    }

    private async Task CleanupAsync(Task writer, Task pinger)
    {
        foreach (ScsiTask task in _tasks.Values) task.TryAbort();
        try
        {
            await Task.WhenAll(_tasks.Values.Select(t => t.Completion)).WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException) { }
        _sender?.Complete();
        try
        {
            // Logout: the response is queued; give the writer a moment to put it on the wire.
            await writer.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException) { }
        try { _cts.Cancel(); } catch (ObjectDisposedException) { }
        try { await pinger.ConfigureAwait(false); } catch (OperationCanceledException) { }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _target.ConnectionClosed(this, _closeReason ?? "closed");
        _cts.Dispose();
    }

    private void Log(string message) => _target.Emit($"{Peer}: {message}");

    public override string ToString() => _session is { } session ? $"{Peer} {session}" : Peer;
}
