using System.Runtime.CompilerServices;

namespace IscsiUp.Io;

/// <summary>
/// Holds back the socket flushes of writes made while one receive loop handles input that is already at hand,
/// and pushes them out together before that loop next waits. A loop that reads eight NBD requests in one
/// receive then sends their eight iSCSI commands with one send, not eight; the iSCSI loop that reads eight
/// responses answers the NBD client with one send. The loop marks its synchronous work with
/// <see cref="Activate"/> (writers find the batch through a thread-static, so only code that runs inside that
/// call on that thread defers) and calls <see cref="FlushAsync"/> before any wait, or a held-back command could
/// be the one the wait depends on.
/// </summary>
public sealed class SendBatch
{
    [ThreadStatic] private static SendBatch? t_current;

    // Usually one or two locks (the iSCSI connection, the NBD reply writer); a list beats a set at that size.
    private readonly List<CoalescingWriteLock> _deferred = [];

    /// <summary>The batch whose loop is running synchronous work on this thread, if any.</summary>
    internal static SendBatch? Current => t_current;

    public bool HasDeferred => _deferred.Count > 0;

    /// <summary>Defers flushes on this thread until the scope ends. Wrap only synchronous code: work that
    /// continues on another thread after an await must not find this batch, and does not.</summary>
    public Scope Activate()
    {
        var previous = t_current;
        t_current = this;
        return new Scope(previous);
    }

    public readonly struct Scope(SendBatch? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }

    /// <summary>The buffered read side of a loop's socket: a read that has to wait flushes this batch first.</summary>
    public Stream BufferedReader(Stream socketStream, int bufferSize) =>
        new BufferedStream(new SendBatchReadStream(socketStream, this), bufferSize);

    /// <summary>Awaits <paramref name="pending"/>, pushing out the held-back sends first if it has to wait (the
    /// answer it waits for may depend on them).</summary>
    public ValueTask<T> FlushBeforeWaiting<T>(ValueTask<T> pending) =>
        pending.IsCompleted || !HasDeferred ? pending : FlushThenWaitAsync(pending);

    /// <inheritdoc cref="FlushBeforeWaiting{T}(ValueTask{T})"/>
    public ValueTask FlushBeforeWaiting(ValueTask pending) =>
        pending.IsCompleted || !HasDeferred ? pending : FlushThenWaitAsync(pending);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> FlushThenWaitAsync<T>(ValueTask<T> pending)
    {
        await FlushAsync().ConfigureAwait(false);
        return await pending.ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushThenWaitAsync(ValueTask pending)
    {
        await FlushAsync().ConfigureAwait(false);
        await pending.ConfigureAwait(false);
    }

    internal void Defer(CoalescingWriteLock writeLock)
    {
        if (!_deferred.Contains(writeLock)) _deferred.Add(writeLock);
    }

    /// <summary>Starts the flush of every held-back stream. A failed flush is reported to its lock's owner, not
    /// thrown: the bytes belonged to other requests, and this loop has its own input to go on with. The loop does
    /// not wait for the flushes to finish: a flush lasts until the peer takes the bytes, and a loop must not wait
    /// on another loop's peer (the iSCSI receive loop waited for an NBD client that stopped reading its replies,
    /// which stalled the session for every other client of the LUN).</summary>
    public ValueTask FlushAsync()
    {
        // Deferred locks are flushed outside any scope: a flush never defers itself again.
        for (int i = 0; i < _deferred.Count; i++)
            _ = FlushInBackgroundAsync(_deferred[i]);
        _deferred.Clear();
        return ValueTask.CompletedTask;
    }

    /// <summary>Runs inline up to the first send that has to wait (usually the whole flush).</summary>
    private static async Task FlushInBackgroundAsync(CoalescingWriteLock writeLock) =>
        await writeLock.FlushDeferredAsync().ConfigureAwait(false);
}
