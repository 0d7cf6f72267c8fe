using System.Runtime.CompilerServices;

namespace IscsiUp.Io;

/// <summary>
/// Serialises writers of one buffered stream and pushes the bytes to the socket only when the last writer of a
/// burst leaves: a writer that sees another one waiting skips its flush, and that waiter's flush carries both.
/// Many requests in flight then cost one send instead of one each. Waiting is not cancellable, because a
/// skipped flush counts on every waiter taking the lock in turn; the lock is only held while bytes are
/// written, and a dead socket fails those writes and frees it. While a receive loop of the session holds its
/// <see cref="SendSchedule"/>, the last writer leaves the flush to the schedule's next push.
/// </summary>
/// <param name="buffered">The buffered stream the writers write to.</param>
/// <param name="schedule">The session's send schedule; null: every burst is flushed by its last writer.</param>
/// <param name="heldFlushFailed">Told when a flush the schedule pushed later failed (no writer is left to see
/// it): the owner ends the connection as if its own send had failed.</param>
public sealed class CoalescingWriteLock(Stream buffered, SendSchedule? schedule, Action<Exception> heldFlushFailed)
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

    /// <summary>Flushes unless another writer is already waiting or the schedule holds the flush, then lets the next one in.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ExitAsync(CancellationToken ct = default)
    {
        try
        {
            if (Volatile.Read(ref _waiting) == 0 && schedule?.TryHoldFlush(this) != true)
                await buffered.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The flush the schedule held (a no-op when a later writer has flushed already). Flushes directly, never
    /// through <see cref="ExitAsync"/>: a pushed flush is not held again.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask FlushHeldAsync()
    {
        await EnterAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await buffered.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            heldFlushFailed(e);
        }
        finally
        {
            _lock.Release();
        }
    }
}
