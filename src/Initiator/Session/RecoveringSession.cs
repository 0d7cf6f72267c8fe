using System.Runtime.CompilerServices;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Io;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// A session that survives lost connections (error recovery level 0, like open-iscsi and libiscsi): when the
/// connection drops, a target restarts or a NOP-Out ping goes unanswered, it logs in again with the same ISID
/// (reinstating the session) under a Polly retry with exponential back-off and jitter, and re-issues every
/// command that had no SCSI status. Callers see latency, not errors, unless the replacement timeout passes;
/// then commands fail with <see cref="SessionLostException"/> instead of hanging. A session that knows other portals
/// of its portal group (<see cref="AddPortals"/>) fails over: the portal that failed goes to the back of the list and
/// the login attempts go round the others first.
/// </summary>
public sealed class RecoveringSession : IScsiSession, IAsyncDisposable
{
    /// <summary>Where to log in again, the portal in use first; under <see cref="_gate"/>.</summary>
    private readonly List<Portal> _portals;
    private readonly int? _groupTag;
    private readonly LoginOptions _options;
    private readonly RecoveryOptions _recovery;
    private readonly int _queueDepth;
    private readonly SendSchedule? _schedule;
    private readonly CancellationTokenSource _closing = new();
    private readonly object _gate = new();
    private readonly Task _pinger;
    private readonly RepeatedLineFilter _log;
    private IscsiSession _current;
    private long _currentSince = System.Diagnostics.Stopwatch.GetTimestamp();
    private int _shortLived;
    private Task<IscsiSession>? _reconnecting;
    private int _closed;

    private RecoveringSession(IscsiSession first, Portal portal, LoginOptions options, RecoveryOptions recovery, int queueDepth, SendSchedule? schedule)
    {
        _current = first;
        _portals = [portal];
        _groupTag = first.Parameters.TargetPortalGroupTag;
        _options = options;
        _recovery = recovery;
        _queueDepth = queueDepth;
        _schedule = schedule;
        _log = new RepeatedLineFilter(recovery.LogRepeatWindow, line => Log?.Invoke(line));
        Watch(first);
        _pinger = Task.Run(PingLoopAsync);
    }

    /// <summary>Logs in; every connection of the session, the replacements too, sends on <paramref name="schedule"/>
    /// (the session host's, shared with its NBD loops; null: each connection its own).</summary>
    public static async Task<RecoveringSession> LoginAsync(Portal portal, LoginOptions options, RecoveryOptions? recovery = null,
        CancellationToken ct = default, int queueDepth = IscsiSession.DefaultQueueDepth, SendSchedule? schedule = null)
    {
        recovery ??= new RecoveryOptions();
        var first = await IscsiSession.LoginAsync(portal, options, ct, queueDepth, recovery, schedule).ConfigureAwait(false);
        return new RecoveringSession(first, portal, options, recovery, queueDepth, schedule);
    }

    public string? TargetName => _options.TargetName;
    /// <summary>The portal in use (after a failover not the one the session logged in at).</summary>
    public Portal Portal { get { lock (_gate) return _portals[0]; } }

    /// <summary>Every portal recovery may log in at, the one in use first.</summary>
    public IReadOnlyList<Portal> Portals { get { lock (_gate) return [.. _portals]; } }

    /// <summary>How many reconnects landed on a different portal than the one that was lost.</summary>
    public int Failovers { get; private set; }

    /// <summary>
    /// Other portals of the same portal group (same target, same TPGT: RFC 7143 lets a session be reinstated only
    /// there) that recovery may log in at when the one in use is unreachable; known ones are skipped.
    /// </summary>
    public void AddPortals(IEnumerable<Portal> others)
    {
        lock (_gate)
            foreach (var portal in others)
                if (!_portals.Contains(portal)) _portals.Add(portal);
    }
    public IscsiSession Current => Volatile.Read(ref _current);

    /// <summary>Progress and trouble in words ("connection lost ...", "reconnected after 3 attempts"); repeats of
    /// the same kind within <see cref="RecoveryOptions.LogRepeatWindow"/> are summarised, not written one by one.</summary>
    public event Action<string>? Log;

    /// <summary>Raised when recovery gave up (replacement timeout) or the target ended the session for good.</summary>
    public event Action<Exception>? Failed;

    /// <summary>True while the connection is being replaced (commands wait), false once it is back.</summary>
    public event Action<bool>? RecoveringChanged;

    /// <summary>A SCSI asynchronous event from whichever connection is current (see <see cref="IscsiSession.AsyncSense"/>).</summary>
    public event Action<ulong, SenseData>? AsyncSense;

    /// <summary>Checks run after each reconnect before commands are re-issued (for example: is it still the same LUN?).</summary>
    public Func<IScsiSession, CancellationToken, Task>? ValidateReconnect { get; set; }

    /// <summary>How many times the session has reconnected.</summary>
    public int Reconnects { get; private set; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default)
    {
        IscsiSession? lostOn = null;
        int losses = 0;
        while (true)
        {
            var session = HealthySession() ?? await ReadySessionAsync(ct).ConfigureAwait(false);
            try
            {
                return await session.ExecuteAsync(command, ct).ConfigureAwait(false);
            }
            catch (SessionLostException e) when (Volatile.Read(ref _closed) == 0)
            {
                // The command got no status: re-issue it once the session is back, a bounded number of times (a
                // target that logs in fine and then fails the same command again would otherwise hold it forever).
                StartReconnect(session, "connection lost");
                if (!ReferenceEquals(session, lostOn))
                {
                    lostOn = session;
                    losses++;
                }
                if (losses > _recovery.CommandRetries)
                    throw new IOException($"{ScsiOpcode.Name(command.Cdb.Span)} to {TargetName} at {Portal} was lost with the connection " +
                                          $"{losses} times; giving up on it (last: {e.Message})", e);
            }
        }
    }

    /// <summary>The current session when it can take commands now (the common case, without allocating).</summary>
    private IscsiSession? HealthySession()
    {
        if (Volatile.Read(ref _closed) != 0) return null;
        lock (_gate)
        {
            return _reconnecting is null && _current.Failure is null ? _current : null;
        }
    }

    private async Task<IscsiSession> ReadySessionAsync(CancellationToken ct)
    {
        while (true)
        {
            if (Volatile.Read(ref _closed) != 0) throw new SessionLostException($"session to {TargetName} at {Portal} is closed");
            Task<IscsiSession>? reconnecting;
            IscsiSession current;
            lock (_gate)
            {
                reconnecting = _reconnecting;
                current = _current;
            }
            if (reconnecting is null)
            {
                if (current.Failure is null) return current;
                StartReconnect(current, current.Failure.Message);
                continue;
            }
            return await reconnecting.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    private void Watch(IscsiSession session)
    {
        session.Lost += error => StartReconnect(session, error.Message);
        session.TargetEvent += _log.Write;
        session.AsyncSense += (lun, sense) => AsyncSense?.Invoke(lun, sense);
    }

    /// <summary>Starts one reconnect for the failed session (later calls for the same failure join it).</summary>
    private void StartReconnect(IscsiSession failed, string reason)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        lock (_gate)
        {
            if (!ReferenceEquals(failed, _current) || _reconnecting is not null) return;
            _log.Write($"{reason}; reconnecting to {TargetName} at {Portal}");
            _reconnecting = Task.Run(() => ReconnectAsync(failed));
        }
        RecoveringChanged?.Invoke(true);
    }

    private async Task<IscsiSession> ReconnectAsync(IscsiSession failed)
    {
        failed.Abort("replaced by a new connection");
        int attempts = 0;
        // The portal that failed goes to the back: the attempts go round the other portals of the group first.
        Portal lost;
        Portal[] order;
        lock (_gate)
        {
            lost = _portals[0];
            order = [.. _portals.Skip(1), lost];
        }
        Portal tried = lost;
        var started = DateTime.UtcNow;
        var lasted = System.Diagnostics.Stopwatch.GetElapsedTime(Interlocked.Read(ref _currentSince));
        var pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(new TimeoutStrategyOptions { Timeout = _recovery.ReplacementTimeout })
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<IOException>(),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _recovery.FirstRetryDelay,
                MaxDelay = _recovery.MaxRetryDelay,
                MaxRetryAttempts = int.MaxValue,
                OnRetry = args =>
                {
                    _log.Write($"reconnect attempt {args.AttemptNumber + 1} failed: {args.Outcome.Exception?.Message}; next in {args.RetryDelay.TotalSeconds:0.0} s");
                    return default;
                },
            })
            .Build();
        try
        {
            // A connection that fails soon after its login is the same outage going on, whatever failed it (a
            // refused login, a command the target breaks again): the back-off holds across such reconnects.
            int shortLived = lasted < _recovery.StableAfter ? ++_shortLived : _shortLived = 0;
            if (shortLived > 0)
            {
                var pause = BackOff(shortLived);
                _log.Write($"the connection to {TargetName} at {Portal} failed {lasted.TotalSeconds:0.0} s after its login ({shortLived} time(s) in a row); next login in {pause.TotalSeconds:0.0} s");
                await Task.Delay(pause, _closing.Token).ConfigureAwait(false);
            }
            var session = await pipeline.ExecuteAsync(async token =>
            {
                tried = order[attempts % order.Length];
                attempts++;
                var candidate = await IscsiSession.LoginAsync(tried, _options, token, _queueDepth, _recovery, _schedule).ConfigureAwait(false);
                try
                {
                    // The ISID names the session only within its portal group: elsewhere the login would start a second one.
                    if (tried != lost && candidate.Parameters.TargetPortalGroupTag != _groupTag)
                        throw new IOException($"{tried} is in portal group {candidate.Parameters.TargetPortalGroupTag}, not {_groupTag}");
                    if (ValidateReconnect is { } validate) await validate(candidate, token).ConfigureAwait(false);
                    return candidate;
                }
                catch
                {
                    await candidate.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }, _closing.Token).ConfigureAwait(false);
            lock (_gate)
            {
                _current = session;
                _reconnecting = null;
                Reconnects++;
                int landed = Array.IndexOf(order, tried);
                _portals.Clear();
                _portals.AddRange([.. order.Skip(landed), .. order.Take(landed)]);
                if (tried != lost) Failovers++;
                Interlocked.Exchange(ref _currentSince, System.Diagnostics.Stopwatch.GetTimestamp());
            }
            Watch(session);
            RecoveringChanged?.Invoke(false);
            if (tried != lost) Log?.Invoke($"portal {lost} unreachable, logged in again through {tried}");
            _log.Write($"reconnected to {TargetName} at {Portal} after {attempts} attempt(s), {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
            return session;
        }
        catch (Exception e)
        {
            // Recovery is over: the replacement timeout passed, the session was closed, or the target now
            // offers something else (a validation failure). Fail every waiting command rather than hang.
            var error = new SessionLostException(e switch
            {
                TimeoutRejectedException => $"could not reconnect to {TargetName} at {Portal}{(order.Length > 1 ? $" nor at {string.Join(", ", order.SkipLast(1))}" : "")} " +
                                            $"within the {_recovery.ReplacementTimeout.TotalSeconds:0} s replacement timeout",
                OperationCanceledException => $"session to {TargetName} at {Portal} is closed",
                _ => $"reconnected to {TargetName} at {Portal}, but {e.Message}",
            }, e);
            Interlocked.Exchange(ref _closed, 1);
            Failed?.Invoke(error);
            throw error;
        }
    }

    /// <summary>Exponential with jitter, as between login attempts: FirstRetryDelay doubled per step up to MaxRetryDelay.</summary>
    private TimeSpan BackOff(int step)
    {
        double delay = Math.Min(_recovery.FirstRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(step - 1, 30)), _recovery.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay * (0.75 + Random.Shared.NextDouble() * 0.5));
    }

    /// <summary>NOP-Out pings find a dead peer within NopInterval + NopTimeout even when no I/O is flowing.</summary>
    private async Task PingLoopAsync()
    {
        var ct = _closing.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(_recovery.NopInterval, ct).ConfigureAwait(false);
                IscsiSession session;
                lock (_gate)
                {
                    if (_reconnecting is not null) continue;
                    session = _current;
                }
                if (session.Failure is not null) continue;
                try
                {
                    await session.PingAsync(ct, _recovery.NopTimeout).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    // Closing: the session is going away anyway, and a ping cut short by that is no news.
                    if (!ct.IsCancellationRequested) session.Abort($"no answer to NOP-Out ping: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// Logs out of the current session and stops recovering, in bounded time whatever the target does: a reconnect
    /// in progress is abandoned, the logout waits at most the login timeout for its answer, and then the connection
    /// is closed; commands still pending fail with <see cref="SessionLostException"/>.
    /// </summary>
    public async Task LogoutAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _closing.Cancel();
        try { await _pinger.ConfigureAwait(false); } catch (OperationCanceledException) { }
        var session = Current;
        try { await session.LogoutAsync(ct).ConfigureAwait(false); }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false);
            _log.Flush();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _closed, 1);
        _closing.Cancel();
        try { await _pinger.ConfigureAwait(false); } catch (OperationCanceledException) { }
        await Current.DisposeAsync().ConfigureAwait(false);
        _log.Flush();
    }
}
