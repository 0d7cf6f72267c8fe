using System.Threading.Tasks.Sources;
using IscsiUp.Initiator.Protocol;
using IscsiUp.Initiator.Scsi;

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
    /// <summary>Bytes of read data received so far (for sanity checks against the final status).</summary>
    public int BytesReceived { get; set; }
    /// <summary>R2T-driven Data-Out sequences being written for this command (the slot is not reused before 0).</summary>
    public int DataOutInFlight;
    /// <summary>True once the command PDU has a CmdSN and is being written.</summary>
    public bool Sent { get; set; }

    public void Start(ScsiCommand command)
    {
        Generation = (Generation + 1) & 0x7FFF;
        if (Generation == 0) Generation = 1;
        Command = command;
        BytesReceived = 0;
        Sent = false;
        _completed = 0;
        _core.Reset();
        _core.RunContinuationsAsynchronously = !command.ContinueOnReceiveLoop;
    }

    public ValueTask<ScsiResult> Task => new(this, _core.Version);

    /// <summary>Lets go of the finished command's buffers: an idle slot kept the last one it served alive, so
    /// after a burst of 1 MiB reads the session held 128 MiB the NBD server had already given back.</summary>
    public void ForgetCommand() => Command = default;

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

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    public ScsiResult GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
