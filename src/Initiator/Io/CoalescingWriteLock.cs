using System.Runtime.CompilerServices;

namespace IscsiUp.Initiator.Io;

/// <summary>
/// Serialises writers of one buffered stream and pushes the bytes to the socket only when the last writer of a
/// burst leaves: a writer that sees another one waiting skips its flush, and that waiter's flush carries both.
/// Many requests in flight then cost one send instead of one each. Waiting is not cancellable, because a
/// skipped flush counts on every waiter taking the lock in turn; the lock is only held while bytes are
/// written, and a dead socket fails those writes and frees it.
/// </summary>
public sealed class CoalescingWriteLock(Stream buffered)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private int _waiting;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask EnterAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _waiting);
        try { await _lock.WaitAsync(CancellationToken.None).ConfigureAwait(false); }
        finally { Interlocked.Decrement(ref _waiting); }
    }

    /// <summary>Flushes unless another writer is already waiting, then lets the next one in.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ExitAsync(CancellationToken ct = default)
    {
        try
        {
            if (Volatile.Read(ref _waiting) == 0) await buffered.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }
}
