using System.Runtime.CompilerServices;

namespace IscsiUp.Io;

/// <summary>
/// When the bytes of one session leave: flushes are held while a receive loop handles input that is already at
/// hand, and pushed out together before a loop waits. A loop that reads eight NBD requests in one receive then
/// sends their eight iSCSI commands with one send, not eight; the iSCSI loop that reads eight responses answers
/// the NBD client with one send. One schedule serves a session's NBD loops and its iSCSI connection (the session
/// host creates it and hands it to both); each loop marks its synchronous handling of input with
/// <see cref="Hold"/> and reads through <see cref="BufferedReader"/> (or awaits through
/// <see cref="PushBeforeWaiting{T}(ValueTask{T})"/>), which pushes before any wait: a held command could be the
/// one the wait depends on. The schedule belongs to the session, not to a thread: a flush made while any of its
/// loops holds, on whatever thread, is pushed by the next loop that waits, and none is left behind, since every
/// hold belongs to a loop that will wait or end, and both push.
/// </summary>
public sealed class SendSchedule
{
    private readonly Lock _gate = new();
    // Usually one or two locks (the iSCSI connection, the NBD reply writer); a list beats a set at that size.
    private readonly List<CoalescingWriteLock> _held = [];
    private int _holds;
    private int _heldCount;

    /// <summary>True while flushes wait for a push.</summary>
    public bool HasHeldSends => Volatile.Read(ref _heldCount) > 0;

    /// <summary>Holds the flushes of this session's writers until the scope ends and a loop next waits. Wrap only
    /// the synchronous handling of input at hand: the loop that holds must reach its next wait (or its end) to push.</summary>
    public Scope Hold()
    {
        lock (_gate) _holds++;
        return new Scope(this);
    }

    public readonly struct Scope(SendSchedule schedule) : IDisposable
    {
        public void Dispose()
        {
            lock (schedule._gate) schedule._holds--;
        }
    }

    /// <summary>The buffered read side of a loop's socket: a read that has to wait pushes the held sends first.</summary>
    public Stream BufferedReader(Stream socketStream, int bufferSize) =>
        new ReceiveBuffer(new PushBeforeWaitingReadStream(socketStream, this), bufferSize);

    /// <summary>Awaits <paramref name="pending"/>, pushing out the held sends first if it has to wait (the answer it
    /// waits for may depend on them).</summary>
    public ValueTask<T> PushBeforeWaiting<T>(ValueTask<T> pending) =>
        pending.IsCompleted || !HasHeldSends ? pending : PushThenWaitAsync(pending);

    /// <inheritdoc cref="PushBeforeWaiting{T}(ValueTask{T})"/>
    public ValueTask PushBeforeWaiting(ValueTask pending) =>
        pending.IsCompleted || !HasHeldSends ? pending : PushThenWaitAsync(pending);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> PushThenWaitAsync<T>(ValueTask<T> pending)
    {
        Push();
        return await pending.ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask PushThenWaitAsync(ValueTask pending)
    {
        Push();
        await pending.ConfigureAwait(false);
    }

    /// <summary>Keeps <paramref name="writeLock"/>'s flush for the next push if a loop holds; false when none does
    /// (the writer flushes itself).</summary>
    internal bool TryHoldFlush(CoalescingWriteLock writeLock)
    {
        lock (_gate)
        {
            if (_holds == 0) return false;
            if (!_held.Contains(writeLock))
            {
                _held.Add(writeLock);
                _heldCount = _held.Count;
            }
            return true;
        }
    }

    /// <summary>Starts the flush of every held stream. A failed flush is reported to its lock's owner, not thrown:
    /// the bytes belonged to other requests, and this loop has its own input to go on with. The loop does not wait
    /// for the flushes to finish: a flush lasts until the peer takes the bytes, and a loop must not wait on another
    /// loop's peer (the iSCSI receive loop waited for an NBD client that stopped reading its replies, which stalled
    /// the session for every other client of the LUN).</summary>
    public void Push()
    {
        // One at a time, outside the gate: a flush runs inline up to its first wait, and writers may hold again meanwhile.
        while (true)
        {
            CoalescingWriteLock writeLock;
            lock (_gate)
            {
                if (_held.Count == 0) return;
                writeLock = _held[^1];
                _held.RemoveAt(_held.Count - 1);
                _heldCount = _held.Count;
            }
            _ = FlushInBackgroundAsync(writeLock);
        }
    }

    /// <summary>Runs inline up to the first send that has to wait (usually the whole flush).</summary>
    private static async Task FlushInBackgroundAsync(CoalescingWriteLock writeLock) =>
        await writeLock.FlushHeldAsync().ConfigureAwait(false);
}
