namespace IscsiUp.Nbd;

/// <summary>Limits of the transmission phase: per connection, and the memory budget shared between connections.</summary>
public sealed record NbdTransmissionOptions
{
    /// <summary>Requests of one connection dispatched to the backend at once (the kernel queues up to 128 per socket).</summary>
    public int MaxRequestsInFlight { get; init; } = 128;

    /// <summary>Payload bytes (WRITE data and READ buffers) one connection may hold at once; a single request
    /// larger than this still runs, alone.</summary>
    public long MaxBytesInFlight { get; init; } = 64L * 1024 * 1024;

    /// <summary>Payload bytes all connections sharing this budget may hold at once (by default every NBD server of
    /// the process shares <see cref="NbdMemoryBudget.Process"/>, 256 MiB).</summary>
    public NbdMemoryBudget MemoryBudget { get; init; } = NbdMemoryBudget.Process;

    /// <summary>Where payload buffers come from and go back to.</summary>
    public NbdBufferPool Buffers { get; init; } = NbdBufferPool.Shared;

    /// <summary>A client whose replies wait this long for it to read them is disconnected, which frees what its
    /// requests hold (the kernel reads its replies at once; a client that stops reading would otherwise keep its
    /// share of the memory budget for good). <see cref="Timeout.InfiniteTimeSpan"/> never disconnects.</summary>
    public TimeSpan ReplyStallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Read buffer of the request reader.</summary>
    public int ReceiveBufferSize { get; init; } = 64 * 1024;

    public static NbdTransmissionOptions Default { get; } = new();
}
