using System.Threading.Tasks.Sources;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// One task slot of a session: the command in flight under an Initiator Task Tag and the awaitable its caller
/// waits on. Slots are reused (no allocation per command); the ITT carries a generation so a late PDU for a
/// finished command cannot touch the next one.
/// </summary>
internal sealed class PendingCommand : IValueTaskSource<ScsiResult>
{
    private ManualResetValueTaskSourceCore<ScsiResult> _core = new() { RunContinuationsAsynchronously = true };
    private int _completed;

    public PendingCommand(int slot) => Slot = slot;

    public int Slot { get; }
    /// <summary>The command PDU, reused for every command of this slot (no allocation per command).</summary>
    public Pdu CommandPdu { get; } = new();
    public uint Generation { get; private set; }
    public uint Itt => (Generation << 16) | (uint)Slot;
    public ScsiCommand Command { get; private set; }
    public uint CmdSN { get; set; }
    /// <summary>Bytes of read data received so far: Data-In must arrive in order, so this is also the offset the
    /// next Data-In must start at, and what the final status must account for.</summary>
    public int BytesReceived { get; set; }
    /// <summary>The DataSN the next Data-In must carry (RFC 7143 11.7.5: 0, 1, 2... per command).</summary>
    public uint NextDataSN { get; set; }
    /// <summary>When the command was handed to the session (Stopwatch timestamp): its timeout counts from here,
    /// time spent waiting for the command window included.</summary>
    public long StartedAt { get; private set; }
    /// <summary>Between <see cref="Start"/> and <see cref="Release"/>: the slot belongs to a caller.</summary>
    public bool Active => Volatile.Read(ref _active) != 0;
    /// <summary>Set once the command timed out and error handling took it over (0 or 1).</summary>
    public int Escalated;
    private int _active;
    // R2T-driven Data-Out sequences being written for this command (the slot is not reused before 0), and the
    // signal its caller waits on when it finds some still being written.
    private int _dataOutInFlight;
    private TaskCompletionSource? _dataOutDone;
    /// <summary>True once the command PDU has a CmdSN and is being written.</summary>
    public bool Sent { get; set; }

    public void Start(ScsiCommand command)
    {
        lock (this) Begin(command);
    }

    private void Begin(ScsiCommand command)
    {
        Generation = (Generation + 1) & 0x7FFF;
        if (Generation == 0) Generation = 1;
        Command = command;
        BytesReceived = 0;
        NextDataSN = 0;
        Sent = false;
        Escalated = 0;
        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _completed = 0;
        Volatile.Write(ref _active, 1);
        _core.Reset();
        _core.RunContinuationsAsynchronously = !command.ContinueOnReceiveLoop;
    }

    public ValueTask<ScsiResult> Task => new(this, _core.Version);

    /// <summary>Completes once; later calls (a duplicate response, a failure after success) are ignored. A command
    /// marked <see cref="ScsiCommand.ContinueOnReceiveLoop"/> resumes its caller inside this call.</summary>
    public bool TryComplete(ScsiResult result)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) return false;
        _core.SetResult(result);
        return true;
    }

    public bool TryFail(Exception error)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) return false;
        // Failures come from anywhere (a dying connection fails every slot at once): never run callers inline.
        _core.RunContinuationsAsynchronously = true;
        _core.SetException(error);
        return true;
    }

    /// <summary>Fails the command only if the slot still carries task <paramref name="itt"/>: error handling runs
    /// beside the receive loop, and the slot may have been answered and reused meanwhile.</summary>
    public bool TryFail(uint itt, Exception error)
    {
        lock (this) return Itt == itt && Active && TryFail(error);
    }

    /// <summary>What error handling needs of a command that timed out, read together with the claim.</summary>
    public readonly record struct TimedOut(uint Itt, uint CmdSN, ulong Lun, bool Sent, string Name);

    /// <summary>Claims the command for error handling once it has waited <paramref name="timeout"/> (once per command).</summary>
    public bool TryClaimTimedOut(TimeSpan timeout, out TimedOut command)
    {
        lock (this)
        {
            command = default;
            if (!Active || IsCompleted || Escalated != 0 || System.Diagnostics.Stopwatch.GetElapsedTime(StartedAt) < timeout) return false;
            Escalated = 1;
            command = new TimedOut(Itt, CmdSN, Command.Lun, Sent, ScsiOpcode.Name(Command.Cdb.Span));
            return true;
        }
    }

    /// <summary>Fails the command if it is for <paramref name="lun"/> and started before <paramref name="before"/>
    /// (a logical unit reset sent then ended it).</summary>
    public bool TryFailStartedBefore(long before, ulong lun, Exception error)
    {
        lock (this) return Active && StartedAt < before && Command.Lun == lun && TryFail(error);
    }

    /// <summary>The caller is done with the slot (it goes back to the free list next). The slot also lets go of the
    /// command's buffers: an idle slot kept the last one it served alive, so after a burst of 1 MiB reads the
    /// session held 128 MiB the NBD server had already given back. Under the lock, as error handling reads the
    /// command under it.</summary>
    public void Release()
    {
        lock (this)
        {
            Volatile.Write(ref _active, 0);
            Command = default;
        }
    }

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    /// <summary>A Data-Out sequence for this command starts: it reads the caller's buffer under this slot's tag.</summary>
    public void DataOutStarted() => Interlocked.Increment(ref _dataOutInFlight);

    /// <summary>A Data-Out sequence is over (sent or failed); the last one wakes a caller waiting in <see cref="DataOutDone"/>.</summary>
    public void DataOutFinished()
    {
        if (Interlocked.Decrement(ref _dataOutInFlight) != 0) return;
        TaskCompletionSource? waiting;
        lock (this)
        {
            waiting = _dataOutDone;
            _dataOutDone = null;
        }
        waiting?.TrySetResult();
    }

    /// <summary>Completes when no Data-Out sequence of this command is being written (at once, nearly always: only a
    /// target that answers a write before taking all its data leaves one running). No R2T is taken once the command
    /// has completed, so none starts while a caller waits.</summary>
    public Task DataOutDone()
    {
        if (Volatile.Read(ref _dataOutInFlight) == 0) return System.Threading.Tasks.Task.CompletedTask;
        lock (this)
        {
            if (Volatile.Read(ref _dataOutInFlight) == 0) return System.Threading.Tasks.Task.CompletedTask;
            return (_dataOutDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    public ScsiResult GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
