using System.Buffers;

namespace IscsiUp.Nbd;

/// <summary>
/// Payload buffers of the NBD server. Small ones come from <see cref="ArrayPool{T}.Shared"/>; large ones (above
/// 64 KiB) from a pool of its own that keeps at most <see cref="RetainedBytesLimit"/> of them for reuse and lets
/// the rest go. ArrayPool.Shared would keep large buffers indefinitely, and the garbage collector does not hand
/// freed memory back to the system while nothing allocates: after a burst (hostile clients held 1.9 GiB after
/// they left), an idle pool drops what it kept and asks for a collection that returns memory to the system.
/// </summary>
public sealed class NbdBufferPool : IDisposable
{
    private const int LargeThreshold = 64 * 1024;
    /// <summary>A burst smaller than this is not worth a full blocking collection to give back.</summary>
    private const long ReturnToSystemAbove = 16L * 1024 * 1024;

    private readonly object _gate = new();
    private readonly Dictionary<int, Stack<byte[]>> _free = [];
    private readonly Timer _idleCheck;
    private long _retained;
    private long _outstanding;
    private long _peakSinceTrim;
    private bool _usedSinceCheck;

    public NbdBufferPool(long retainedBytesLimit, TimeSpan idleTrimAfter)
    {
        RetainedBytesLimit = retainedBytesLimit;
        _idleCheck = new Timer(_ => TrimIfIdle(), null, idleTrimAfter, idleTrimAfter);
    }

    /// <summary>The pool of the process's NBD servers: keeps up to 64 MiB, trims after 5 s without use.</summary>
    public static NbdBufferPool Shared { get; } = new(64L * 1024 * 1024, TimeSpan.FromSeconds(5));

    public long RetainedBytesLimit { get; }

    /// <summary>Large buffers handed out and not yet returned, in bytes.</summary>
    public long OutstandingBytes
    {
        get { lock (_gate) return _outstanding; }
    }

    /// <summary>A buffer of at least <paramref name="minimumLength"/> bytes (not cleared).</summary>
    public byte[] Rent(int minimumLength)
    {
        // Small buffers do not count as use: ArrayPool.Shared keeps its own, and a run of 4 KiB I/O after a burst of
        // 1 MiB requests should not keep the burst's buffers (32 MiB for four devices at depth 8) for its whole length.
        if (minimumLength <= LargeThreshold)
            return ArrayPool<byte>.Shared.Rent(minimumLength);
        int size = (int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)minimumLength), Array.MaxLength);
        byte[]? reused = null;
        lock (_gate)
        {
            _usedSinceCheck = true;
            _outstanding += size;
            if (_free.TryGetValue(size, out var stack) && stack.TryPop(out reused))
                _retained -= size;
            _peakSinceTrim = Math.Max(_peakSinceTrim, _outstanding + _retained);
        }
        return reused ?? GC.AllocateUninitializedArray<byte>(size);
    }

    public void Return(byte[] buffer)
    {
        if (buffer.Length <= LargeThreshold)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        lock (_gate)
        {
            _outstanding -= buffer.Length;
            if (_retained + buffer.Length > RetainedBytesLimit)
                return; // dropped: the collector frees it
            if (!_free.TryGetValue(buffer.Length, out var stack))
                _free[buffer.Length] = stack = new Stack<byte[]>();
            stack.Push(buffer);
            _retained += buffer.Length;
        }
    }

    /// <summary>Drops every kept buffer when no large one was rented since the last check; after a burst of more
    /// than 16 MiB, also has the collector return the freed memory to the system.</summary>
    public void TrimIfIdle()
    {
        bool returnToSystem;
        lock (_gate)
        {
            if (_usedSinceCheck)
            {
                _usedSinceCheck = false;
                return;
            }
            // Memory the last burst used beyond what is still handed out (a stalled client's buffers stay in use).
            bool burstOver = _peakSinceTrim - _outstanding > ReturnToSystemAbove;
            if (_retained == 0 && !burstOver)
                return;
            _free.Clear();
            _retained = 0;
            returnToSystem = burstOver;
            _peakSinceTrim = _outstanding;
        }
        if (returnToSystem)
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    public void Dispose() => _idleCheck.Dispose();
}
