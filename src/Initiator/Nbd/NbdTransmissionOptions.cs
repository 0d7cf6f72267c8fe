namespace IscsiUp.Initiator.Nbd;

/// <summary>Per-connection limits of the transmission phase.</summary>
public sealed record NbdTransmissionOptions
{
    /// <summary>Requests of one connection dispatched to the backend at once (the kernel queues up to 128 per socket).</summary>
    public int MaxRequestsInFlight { get; init; } = 128;

    /// <summary>Payload bytes (WRITE data and READ buffers) one connection may hold at once; a single request
    /// larger than this still runs, alone.</summary>
    public long MaxBytesInFlight { get; init; } = 64L * 1024 * 1024;

    /// <summary>Read buffer of the request reader.</summary>
    public int ReceiveBufferSize { get; init; } = 64 * 1024;

    public static NbdTransmissionOptions Default { get; } = new();
}
