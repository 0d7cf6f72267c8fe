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
        { Op: ControlRequest.LoginOp, Login: { } login } => LoginAsync(login, client, daemonStop),
        { Op: ControlRequest.LogoutOp, Session: { } id } => LogoutAsync(id, client),
        { Op: ControlRequest.PingOp } => Task.FromResult(ExitCodes.Success),
        _ => Fail(client, $"iscsi-up: the daemon does not know the request \"{request.Op}\"", ExitCodes.InvalidArgument),
    };

    private async Task<int> LoginAsync(LoginRequest request, ControlConnection client, CancellationToken daemonStop)
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
                held = new HeldSession(request.Target, portal.ToString(), CancellationTokenSource.CreateLinkedTokenSource(daemonStop));
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
        var output = new ClientOutput(client, log, $"iscsi-up: {request.Target} at {portal}: ");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = new SessionHost(portal, request.ToOptions(), request.Lun, request.Export, output) { ControlSocket = controlPath, Recovery = (request.Timeouts ?? Config.SessionTimeouts.Default).ToRecovery() };
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
                client.Err($"iscsi-up: session [{id}] to {held.Target} at {held.Portal}: the device is detached, but the target did not answer " +
                           $"the cache flush and logout within {SessionHost.StopBudget.TotalSeconds:0} s");
            return code;
        }
        catch (Exception e)
        {
            var (message, code) = ErrorReporter.Classify(e);
            return await Fail(client, "iscsi-up: " + message, code).ConfigureAwait(false);
        }
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

    /// <summary>Flushes, detaches and logs out of every session (the daemon is stopping).</summary>
    public async Task StopAllAsync()
    {
        HeldSession[] all;
        lock (_gate)
        {
            _retired = true;
            all = [.. _sessions];
        }
        foreach (var held in all) Cancel(held);
        foreach (var held in all)
        {
            try { await held.Run.ConfigureAwait(false); }
            catch (Exception e) { log.WriteLine($"iscsi-up: {held.Target} at {held.Portal}: {ErrorReporter.Classify(e).Message}"); }
        }
    }

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
