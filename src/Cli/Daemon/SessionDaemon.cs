using IscsiUp.Cli.Commands;
using IscsiUp.Cli.Sessions;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// Holds every session of this machine in one process (like iscsid): logs in when a client asks, answers the
/// client once the LUN is usable, keeps the session (reconnecting as needed), and logs out on request or when
/// the daemon stops. The sessions' records under /run/iscsi-up/sessions name this process and its control socket.
/// </summary>
public sealed class SessionDaemon(string controlPath, TextWriter log)
{
    private sealed class HeldSession(string target, string portal, CancellationTokenSource stop)
    {
        public string Target => target;
        public string Portal => portal;
        public CancellationTokenSource Stop => stop;
        public SessionHost? Host { get; set; }
        public Task<int> Run { get; set; } = Task.FromResult(0);
    }

    private readonly Lock _gate = new();
    private readonly List<HeldSession> _sessions = [];
    private bool _retired;

    /// <summary>Called whenever the set of sessions changes (for systemd's status line).</summary>
    public Action<int>? SessionsChanged { get; init; }

    public int SessionCount
    {
        get { lock (_gate) return _sessions.Count; }
    }

    public Task<int> HandleAsync(ControlRequest request, ControlConnection client, CancellationToken daemonStop) => request switch
    {
        { Op: ControlRequest.LoginOp, Login: { } login } => LoginAsync(login, client),
        { Op: ControlRequest.LogoutOp, Session: { } id } => LogoutAsync(id, client),
        { Op: ControlRequest.PingOp } => Task.FromResult(ExitCodes.Success),
        { Op: ControlRequest.ShowOp, Session: { } id } => Task.FromResult(Show(id, client)),
        { Op: ControlRequest.RescanOp, Session: { } id } => RescanAsync(id, client, daemonStop),
        _ => Fail(client, $"iscsi-up: the daemon does not know the request \"{request.Op}\"", ExitCodes.InvalidArgument),
    };

    private async Task<int> LoginAsync(LoginRequest request, ControlConnection client)
    {
        var portal = CommonOptions.ParsePortal(request.Portal);
        HeldSession? held = null;
        string? refusal = null;
        lock (_gate)
        {
            if (_retired) refusal = "";
            else if (_sessions.FirstOrDefault(s => s.Target == request.Target && s.Portal == portal.ToString()) is { } existing)
                refusal = $"iscsi-up: session {(existing.Host?.Record is { } record ? $"[{record.Id}] " : "")}to {request.Target} at {portal} already exists";
            else
            {
                // Not linked to the daemon's stop: StopAllAsync stops each session itself, after telling it that this
                // is the daemon stopping (a device in use is then handed over, not detached).
                held = new HeldSession(request.Target, portal.ToString(), new CancellationTokenSource());
                _sessions.Add(held);
            }
        }
        if (held is null)
        {
            if (refusal!.Length == 0) client.WriteLine(ControlReply.Retry); // this daemon is exiting: the client starts a new one
            else client.Err(refusal);
            return ExitCodes.SessionExists;
        }
        log.WriteLine($"iscsi-up: {request}");
        var output = new ClientOutput(client, log, request.Target, portal.ToString());
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = new SessionHost(portal, request.ToOptions(), request.WantedLuns, request.Export, output) { ControlSocket = controlPath, Recovery = request.Recovery, KnownPortals = request.KnownPortals };
        held.Host = host;
        held.Run = Task.Run(() => host.RunAsync(() => ready.TrySetResult(), held.Stop.Token));
        _ = held.Run.ContinueWith(_ => Forget(held), TaskScheduler.Default);
        SessionsChanged?.Invoke(SessionCount);

        await Task.WhenAny(ready.Task, held.Run).ConfigureAwait(false);
        if (ready.Task.IsCompleted)
        {
            output.Detach();
            return ExitCodes.Success;
        }
        try
        {
            int code = await held.Run.ConfigureAwait(false);
            return code == ExitCodes.Success ? ExitCodes.Error : code; // ended before it was ready: never a success
        }
        catch (Exception e)
        {
            var (message, code) = ErrorReporter.Classify(e);
            log.WriteLine($"iscsi-up: login to {request.Target} at {portal} failed: {message}");
            return await Fail(client, "iscsi-up: " + message, code).ConfigureAwait(false);
        }
    }

    private async Task<int> LogoutAsync(int id, ControlConnection client)
    {
        HeldSession? held;
        lock (_gate) held = _sessions.FirstOrDefault(s => s.Host?.Record?.Id == id);
        if (held is null) return await Fail(client, $"iscsi-up: session [{id}] is not held by this daemon", ExitCodes.SessionNotFound).ConfigureAwait(false);
        log.WriteLine($"iscsi-up: logout of session [{id}] ({held.Target} at {held.Portal}) requested");
        Cancel(held);
        try
        {
            int code = await held.Run.ConfigureAwait(false);
            if (code != ExitCodes.Success)
                client.Err($"iscsi-up: session [{id}] to {held.Target} at {held.Portal}: {held.Host?.StopProblem ?? "the logout did not complete"}");
            return code;
        }
        catch (Exception e)
        {
            var (message, code) = ErrorReporter.Classify(e);
            return await Fail(client, "iscsi-up: " + message, code).ConfigureAwait(false);
        }
    }

    private async Task<int> RescanAsync(int id, ControlConnection client, CancellationToken daemonStop)
    {
        SessionHost? host;
        lock (_gate) host = _sessions.FirstOrDefault(s => s.Host?.Record?.Id == id)?.Host;
        if (host is null) return await Fail(client, $"iscsi-up: session [{id}] is not held by this daemon", ExitCodes.SessionNotFound).ConfigureAwait(false);
        log.WriteLine($"iscsi-up: rescan of session [{id}] requested");
        IReadOnlyList<string>? changes;
        try { changes = await host.RescanAsync(daemonStop).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return await Fail(client, $"iscsi-up: rescan of session [{id}] failed: {e.Message}", ExitCodes.Error).ConfigureAwait(false);
        }
        if (changes is null) return await Fail(client, $"iscsi-up: session [{id}] is not usable yet", ExitCodes.SessionNotFound).ConfigureAwait(false);
        foreach (string change in changes) client.Out(change);
        return ExitCodes.Success;
    }

    private int Show(int id, ControlConnection client)
    {
        SessionDetails? details;
        lock (_gate) details = _sessions.FirstOrDefault(s => s.Host?.Record?.Id == id)?.Host?.Details();
        if (details is null)
        {
            client.Err($"iscsi-up: session [{id}] is not held by this daemon");
            return ExitCodes.SessionNotFound;
        }
        client.Out(System.Text.Json.JsonSerializer.Serialize(details, ControlJson.Default.SessionDetails));
        return ExitCodes.Success;
    }

    /// <summary>
    /// When the daemon holds nothing, marks it as exiting (later logins are told to retry with a new daemon) and
    /// returns true; otherwise false.
    /// </summary>
    public bool TryRetireWhenIdle()
    {
        lock (_gate)
        {
            if (_sessions.Count > 0) return false;
            _retired = true;
            return true;
        }
    }

    /// <summary>
    /// The daemon is stopping: flushes and logs out of every session. A kernel device nobody uses is detached; one
    /// still in use (mounted, held open) is drained and left waiting for the next daemon, which reattaches it.
    /// At shutdown the _netdev filesystems are unmounted before this daemon stops, so everything is detached.
    /// </summary>
    public async Task StopAllAsync()
    {
        HeldSession[] all;
        lock (_gate)
        {
            _retired = true;
            all = [.. _sessions];
        }
        foreach (var held in all)
            if (held.Host is { } host) host.HandOverOnStop = true;
        foreach (var held in all) Cancel(held);
        foreach (var held in all)
        {
            try { await held.Run.ConfigureAwait(false); }
            catch (Exception e) { log.WriteLine($"iscsi-up: {held.Target} at {held.Portal}: {ErrorReporter.Classify(e).Message}"); }
        }
    }

    /// <summary>
    /// Takes over the kernel devices that a daemon before this one left waiting (it stopped while they were in
    /// use, or it died): each is logged in again with its node's settings, checked to be the same LUN, and given
    /// a new socket. Runs in the background; a device that cannot be taken over is reported and detached (its
    /// I/O fails at once instead of after the dead-connection timeout); one that is no longer ours is left alone.
    /// </summary>
    public void AdoptWaitingDevices(CancellationToken daemonStop)
    {
        foreach (var record in SessionRecord.LoadAll().Where(r => r.Waiting))
        {
            if (daemonStop.IsCancellationRequested) break;
            var portal = CommonOptions.ParsePortal(record.Portal);
            var held = new HeldSession(record.Target, portal.ToString(), new CancellationTokenSource()); // stopped by StopAllAsync, as in LoginAsync
            lock (_gate)
            {
                if (_retired) return;
                _sessions.Add(held);
            }
            var export = new ExportRequest(null, null, record.Device) { NbdTimeouts = new(record.NbdTimeout, record.NbdDeadTimeout) };
            log.WriteLine($"iscsi-up: session [{record.Id}]: taking over {Devices(record)} ({record.Target} at {record.Portal}) " +
                          $"left by pid {record.Pid} ({record.State})");
            held.Run = Task.Run(() => AdoptAsync(held, record, portal, export));
            _ = held.Run.ContinueWith(_ => Forget(held), TaskScheduler.Default);
        }
        SessionsChanged?.Invoke(SessionCount);
    }

    private static readonly TimeSpan AdoptRetryPause = TimeSpan.FromSeconds(5);

    private async Task<int> AdoptAsync(HeldSession held, SessionRecord record, Initiator.Session.Portal portal, ExportRequest export)
    {
        string name = $"session [{record.Id}] ({Devices(record)}, {record.Target} at {record.Portal})";
        // Worth retrying while the device still holds its I/O: the target may be restarting too.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(record.NbdDeadTimeout);
        for (int attempt = 1; ; attempt++)
        {
            string problem;
            try
            {
                var options = new Initiator.Login.LoginOptions { InitiatorName = record.Initiator, TargetName = record.Target, Chap = ChapOf(record) };
                var host = new SessionHost(portal, options, [.. record.Luns.Select(l => l.Lun)], export, log) { ControlSocket = controlPath, Adopting = record };
                held.Host = host;
                int code = await host.RunAsync(() => log.WriteLine($"iscsi-up: {name}: taken over, I/O resumes"), held.Stop.Token).ConfigureAwait(false);
                if (host.Record is not null || held.Stop.IsCancellationRequested) return code; // it ran (and has ended) or the daemon stops
                problem = $"exit code {code}";
            }
            catch (SessionHost.AdoptionRefusedException e)
            {
                await GiveUpAsync(record, $"iscsi-up: {name}: {e.Message}; detaching it (its I/O fails)").ConfigureAwait(false);
                return ExitCodes.Error;
            }
            catch (OperationCanceledException) when (held.Stop.IsCancellationRequested)
            {
                return ExitCodes.Success; // stopping before the takeover: the device keeps waiting (its record stays)
            }
            catch (Exception e)
            {
                problem = ErrorReporter.Classify(e).Message;
            }
            if (DateTime.UtcNow + AdoptRetryPause >= deadline)
            {
                await GiveUpAsync(record, $"iscsi-up: {name}: cannot take it over ({problem}) within its {record.NbdDeadTimeout} s dead-connection timeout; " +
                                          "detaching it (its I/O fails)").ConfigureAwait(false);
                return ExitCodes.Transport;
            }
            log.WriteLine($"iscsi-up: {name}: takeover attempt {attempt} failed: {problem}; next in {AdoptRetryPause.TotalSeconds:0} s");
            try { await Task.Delay(AdoptRetryPause, held.Stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return ExitCodes.Success; }
        }
    }

    /// <summary>
    /// The CHAP credentials to take a session over with: those it logged in with (kept beside its record), else its
    /// node's (records written before they were kept), else none. A session needs no node record to be taken over.
    /// </summary>
    private static Initiator.Login.ChapCredentials? ChapOf(SessionRecord record)
    {
        if (SessionCredentials.Load(record.Id) is { } used) return used;
        var node = Config.NodeRecord.Find(record.Target, record.Portal); // a broken node record: the attempt fails with its one line, and is retried
        return node?.ReadChap();
    }

    private async Task GiveUpAsync(SessionRecord record, string message)
    {
        log.WriteLine(message);
        foreach (var lun in record.Luns)
        {
            if (await SessionAdoption.DetachAsync(lun).ConfigureAwait(false) is { } failure)
                log.WriteLine($"iscsi-up: could not detach {lun.Device}: {failure}");
        }
        record.Delete();
    }

    /// <summary>The kernel devices a record names, for the log: "/dev/nbd0" or "/dev/nbd0, /dev/nbd1".</summary>
    private static string Devices(SessionRecord record) => string.Join(", ", record.Luns.Select(l => l.Device));

    private static void Cancel(HeldSession held)
    {
        try { held.Stop.Cancel(); }
        catch (ObjectDisposedException) { } // it ended by itself meanwhile
    }

    private void Forget(HeldSession held)
    {
        lock (_gate) _sessions.Remove(held);
        held.Stop.Dispose();
        SessionsChanged?.Invoke(SessionCount);
    }

    private static Task<int> Fail(ControlConnection client, string message, int code)
    {
        client.Err(message);
        return Task.FromResult(code);
    }
}
