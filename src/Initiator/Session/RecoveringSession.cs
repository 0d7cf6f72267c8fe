using System.Runtime.CompilerServices;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// A session that survives lost connections (error recovery level 0, like open-iscsi and libiscsi): when the
/// connection drops, a target restarts or a NOP-Out ping goes unanswered, it logs in again with the same ISID
/// (reinstating the session) under a Polly retry with exponential back-off and jitter, and re-issues every
/// command that had no SCSI status. Callers see latency, not errors, unless the replacement timeout passes;
/// then commands fail with <see cref="SessionLostException"/> instead of hanging.
/// </summary>
public sealed class RecoveringSession : IScsiSession, IAsyncDisposable
{
    private readonly Portal _portal;
    private readonly LoginOptions _options;
    private readonly RecoveryOptions _recovery;
    private readonly int _queueDepth;
    private readonly CancellationTokenSource _closing = new();
    private readonly object _gate = new();
    private readonly Task _pinger;
    private IscsiSession _current;
    private Task<IscsiSession>? _reconnecting;
    private int _closed;

    private RecoveringSession(IscsiSession first, Portal portal, LoginOptions options, RecoveryOptions recovery, int queueDepth)
    {
        _current = first;
        _portal = portal;
        _options = options;
        _recovery = recovery;
        _queueDepth = queueDepth;
        Watch(first);
        _pinger = Task.Run(PingLoopAsync);
    }

    public static async Task<RecoveringSession> LoginAsync(Portal portal, LoginOptions options, RecoveryOptions? recovery = null,
        CancellationToken ct = default, int queueDepth = IscsiSession.DefaultQueueDepth)
    {
        var first = await IscsiSession.LoginAsync(portal, options, ct, queueDepth).ConfigureAwait(false);
        return new RecoveringSession(first, portal, options, recovery ?? new RecoveryOptions(), queueDepth);
    }

    public string? TargetName => _options.TargetName;
    public Portal Portal => _portal;
    public IscsiSession Current => Volatile.Read(ref _current);

    /// <summary>Progress and trouble in words ("connection lost ...", "reconnected after 3 attempts").</summary>
    public event Action<string>? Log;

    /// <summary>Raised when recovery gave up (replacement timeout) or the target ended the session for good.</summary>
    public event Action<Exception>? Failed;

    /// <summary>True while the connection is being replaced (commands wait), false once it is back.</summary>
    public event Action<bool>? RecoveringChanged;

    /// <summary>Checks run after each reconnect before commands are re-issued (for example: is it still the same LUN?).</summary>
    public Func<IScsiSession, CancellationToken, Task>? ValidateReconnect { get; set; }

    /// <summary>How many times the session has reconnected.</summary>
    public int Reconnects { get; private set; }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default)
    {
        while (true)
        {
            var session = HealthySession() ?? await ReadySessionAsync(ct).ConfigureAwait(false);
            try
            {
                return await session.ExecuteAsync(command, ct).ConfigureAwait(false);
            }
            catch (SessionLostException) when (Volatile.Read(ref _closed) == 0)
            {
                // The command got no status: re-issue it once the session is back.
                StartReconnect(session, "connection lost");
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
            if (Volatile.Read(ref _closed) != 0) throw new SessionLostException($"session to {TargetName} at {_portal} is closed");
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
        session.TargetEvent += message => Log?.Invoke(message);
    }

    /// <summary>Starts one reconnect for the failed session (later calls for the same failure join it).</summary>
    private void StartReconnect(IscsiSession failed, string reason)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        lock (_gate)
        {
            if (!ReferenceEquals(failed, _current) || _reconnecting is not null) return;
            Log?.Invoke($"{reason}; reconnecting to {TargetName} at {_portal}");
            _reconnecting = Task.Run(() => ReconnectAsync(failed));
        }
        RecoveringChanged?.Invoke(true);
    }

    private async Task<IscsiSession> ReconnectAsync(IscsiSession failed)
    {
        failed.Abort("replaced by a new connection");
        int attempts = 0;
        var started = DateTime.UtcNow;
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
                    Log?.Invoke($"reconnect attempt {args.AttemptNumber + 1} failed: {args.Outcome.Exception?.Message}; next in {args.RetryDelay.TotalSeconds:0.0} s");
                    return default;
                },
            })
            .Build();
        try
        {
            var session = await pipeline.ExecuteAsync(async token =>
            {
                attempts++;
                var candidate = await IscsiSession.LoginAsync(_portal, _options, token, _queueDepth).ConfigureAwait(false);
                try
                {
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
            }
            Watch(session);
            RecoveringChanged?.Invoke(false);
            Log?.Invoke($"reconnected to {TargetName} at {_portal} after {attempts} attempt(s), {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
            return session;
        }
        catch (Exception e)
        {
            // Recovery is over: the replacement timeout passed, the session was closed, or the target now
            // offers something else (a validation failure). Fail every waiting command rather than hang.
            var error = new SessionLostException(e switch
            {
                TimeoutRejectedException => $"could not reconnect to {TargetName} at {_portal} within the {_recovery.ReplacementTimeout.TotalSeconds:0} s replacement timeout",
                OperationCanceledException => $"session to {TargetName} at {_portal} is closed",
                _ => $"reconnected to {TargetName} at {_portal}, but {e.Message}",
            }, e);
            Interlocked.Exchange(ref _closed, 1);
            Failed?.Invoke(error);
            throw error;
        }
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
                catch (IOException e) when (!ct.IsCancellationRequested)
                {
                    session.Abort($"no answer to NOP-Out ping: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Logs out of the current session and stops recovering.</summary>
    public async Task LogoutAsync(CancellationToken ct = default)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _closing.Cancel();
        try { await _pinger.ConfigureAwait(false); } catch (OperationCanceledException) { }
        await Current.LogoutAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _closed, 1);
        _closing.Cancel();
        try { await _pinger.ConfigureAwait(false); } catch (OperationCanceledException) { }
        await Current.DisposeAsync().ConfigureAwait(false);
    }
}
