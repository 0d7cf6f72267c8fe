using System.Buffers;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// One SCSI command in flight on a connection: its CDB, the Data-Out collected so far, and its cancellation.
/// Data-Out arrives on the reader loop (<see cref="Tracker"/>); execution and the response run on their own.
/// </summary>
public sealed class ScsiTask : IDisposable
{
    private byte[]? _buffer;

    public ScsiTask(uint itt, ulong lun, byte[] cdb, uint expectedLength, bool read, bool write, long dataOutLength, int wanted, CancellationToken connectionToken)
    {
        Itt = itt;
        Lun = lun;
        Cdb = cdb;
        ExpectedLength = expectedLength;
        IsRead = read;
        IsWrite = write;
        DataOutLength = dataOutLength;
        Wanted = wanted;
        _buffer = wanted > 0 ? ArrayPool<byte>.Shared.Rent(wanted) : null;
        Cancellation = CancellationTokenSource.CreateLinkedTokenSource(connectionToken);
    }

    public uint Itt { get; }
    public ulong Lun { get; }
    public byte[] Cdb { get; }

    /// <summary>The initiator's Expected Data Transfer Length.</summary>
    public uint ExpectedLength { get; }
    public bool IsRead { get; }
    public bool IsWrite { get; }

    /// <summary>Data-Out bytes the CDB itself transfers.</summary>
    public long DataOutLength { get; }

    /// <summary>Data-Out bytes kept for the command: the CDB's length, cut to the expected length.</summary>
    public int Wanted { get; }

    /// <summary>Where Data-Out lands (null when nothing is wanted).</summary>
    public Memory<byte> Buffer => _buffer is null ? Memory<byte>.Empty : _buffer.AsMemory(0, Wanted);

    /// <summary>Null for commands without Data-Out.</summary>
    public DataOutTracker? Tracker { get; set; }

    /// <summary>Set when the command fails before its data is used (the data is still drained).</summary>
    public Scsi.ScsiResult? EarlyResult { get; set; }

    /// <summary>Completes when all Data-Out has arrived.</summary>
    public TaskCompletionSource DataReady { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CancellationTokenSource Cancellation { get; }

    private const int Running = 0, Responding = 1, AbortedState = 2;
    private int _state;

    /// <summary>Set by ABORT TASK and friends: the command ends without a response.</summary>
    public bool Aborted => Volatile.Read(ref _state) == AbortedState;

    /// <summary>The running execution (for aborts and logout to wait on).</summary>
    public Task Completion { get; set; } = Task.CompletedTask;

    /// <summary>The slot in the command window is still held.</summary>
    public bool HoldsWindowSlot { get; set; }

    /// <summary>
    /// Aborts the command unless its response is already on its way (then the initiator sees the response and
    /// the abort must say the task no longer exists). Responding and aborting exclude each other, so a task is
    /// never both answered and reported aborted.
    /// </summary>
    public bool TryAbort()
    {
        if (Interlocked.CompareExchange(ref _state, AbortedState, Running) == Responding) return false;
        try { Cancellation.Cancel(); } catch (ObjectDisposedException) { }
        DataReady.TrySetCanceled();
        return true;
    }

    /// <summary>Claims the right to send the command's response; false once it has been aborted.</summary>
    public bool TryClaimResponse() => Interlocked.CompareExchange(ref _state, Responding, Running) != AbortedState;

    /// <summary>
    /// Returns the Data-Out buffer to the pool, unless Data-Out may still be landing in it (an aborted command
    /// whose data never completed): the reader loop could be writing into it, so that one is left to the GC.
    /// </summary>
    public void Dispose()
    {
        bool quiet = Tracker is null || DataReady.Task.IsCompletedSuccessfully;
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer && quiet) ArrayPool<byte>.Shared.Return(buffer);
        EarlyResult?.Dispose();
        Cancellation.Dispose();
    }

    public override string ToString() => $"task 0x{Itt:x8} opcode 0x{Cdb[0]:x2}";
}
