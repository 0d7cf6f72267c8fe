namespace IscsiUp.Nbd;

/// <summary>
/// Payload bytes (READ buffers, WRITE data) that every NBD connection sharing this budget may hold at once: the
/// bound on the server's memory whatever its clients do. A connection's own limit
/// (<see cref="NbdTransmissionOptions.MaxBytesInFlight"/>) keeps one client from taking it all; this one keeps many
/// clients (16 that pipeline 1 MiB READs and never read a reply held 1 GiB before) from adding up. Requests wait
/// in arrival order, so a large one is not overtaken forever by small ones; a request larger than the whole
/// budget runs when it has the budget to itself.
/// </summary>
public sealed class NbdMemoryBudget
{
    private readonly object _gate = new();
    private readonly LinkedList<Waiter> _waiters = [];
    private long _inUse;

    public NbdMemoryBudget(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        MaxBytes = maxBytes;
    }

    /// <summary>The budget every NBD server of this process shares unless given another: 256 MiB, four times what
    /// one busy kernel connection keeps in flight.</summary>
    public static NbdMemoryBudget Process { get; } = new(256L * 1024 * 1024);

    public long MaxBytes { get; }

    /// <summary>Bytes granted and not yet released.</summary>
    public long InUse
    {
        get { lock (_gate) return _inUse; }
    }

    /// <summary>Waits until <paramref name="bytes"/> more fit (a request larger than the budget counts as all of it).</summary>
    public ValueTask AcquireAsync(long bytes, CancellationToken ct)
    {
        long amount = Math.Min(bytes, MaxBytes);
        Waiter waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && _inUse + amount <= MaxBytes)
            {
                _inUse += amount;
                return ValueTask.CompletedTask;
            }
            waiter = new Waiter(amount);
            waiter.Node = _waiters.AddLast(waiter);
        }
        return WaitAsync(waiter, ct);
    }

    public void Release(long bytes)
    {
        List<Waiter>? granted;
        lock (_gate)
        {
            _inUse -= Math.Min(bytes, MaxBytes);
            granted = GrantLocked();
        }
        Complete(granted);
    }

    private async ValueTask WaitAsync(Waiter waiter, CancellationToken ct)
    {
        using var registration = ct.Register(() => Cancel(waiter, ct));
        await waiter.Granted.Task.ConfigureAwait(false);
    }

    private void Cancel(Waiter waiter, CancellationToken ct)
    {
        List<Waiter>? granted = null;
        lock (_gate)
        {
            if (waiter.Node?.List is null)
                return; // granted meanwhile: the caller got it and releases it
            _waiters.Remove(waiter.Node);
            waiter.Node = null;
            granted = GrantLocked(); // the ones behind it may fit now
        }
        waiter.Granted.TrySetCanceled(ct);
        Complete(granted);
    }

    private List<Waiter>? GrantLocked()
    {
        List<Waiter>? granted = null;
        while (_waiters.First is { } first && _inUse + first.Value.Bytes <= MaxBytes)
        {
            _inUse += first.Value.Bytes;
            _waiters.RemoveFirst();
            first.Value.Node = null;
            (granted ??= []).Add(first.Value);
        }
        return granted;
    }

    private static void Complete(List<Waiter>? granted)
    {
        if (granted is null)
            return;
        foreach (var w in granted)
            w.Granted.TrySetResult();
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public LinkedListNode<Waiter>? Node { get; set; }
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
