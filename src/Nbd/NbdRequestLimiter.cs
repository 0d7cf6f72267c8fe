namespace IscsiUp.Nbd;

/// <summary>
/// Bounds the requests of one connection that are in flight: at most <c>maxRequests</c> at once and at most
/// <c>maxBytes</c> of payload buffers (a single request larger than the byte budget still proceeds alone).
/// Only the connection's request reader waits on it, so one waiter at a time is enough.
/// </summary>
internal sealed class NbdRequestLimiter(int maxRequests, long maxBytes)
{
    private readonly object _gate = new();
    private int _count;
    private long _bytes;
    private TaskCompletionSource? _waiter;

    public int InFlight
    {
        get { lock (_gate) return _count; }
    }

    /// <summary>Waits until one more request of <paramref name="bytes"/> payload fits.</summary>
    public async ValueTask AcquireAsync(long bytes, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_count < maxRequests && (_count == 0 || _bytes + bytes <= maxBytes))
                {
                    _count++;
                    _bytes += bytes;
                    return;
                }
                _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _waiter.Task;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    public void Release(long bytes)
    {
        TaskCompletionSource? w;
        lock (_gate)
        {
            _count--;
            _bytes -= bytes;
            w = _waiter;
            _waiter = null;
        }
        w?.TrySetResult();
    }

    /// <summary>Completes when no request is in flight.</summary>
    public async Task WhenIdleAsync()
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_count == 0)
                    return;
                _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _waiter.Task;
            }
            await wait.ConfigureAwait(false);
        }
    }
}
