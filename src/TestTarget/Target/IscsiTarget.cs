using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using IscsiUp.TestTarget.Scsi;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// An iSCSI target (RFC 7143, target side) serving direct-access disks over <see cref="Storage.IBlockStorage"/>.
/// <see cref="StartAsync"/> returns once the portal listens; every accepted connection runs its own loop, so
/// many sessions work at once and a misbehaving initiator only loses its own connection.
/// </summary>
public sealed class IscsiTarget : IAsyncDisposable
{
    private readonly ConcurrentDictionary<TargetConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _sessionLock = new();
    private readonly List<TargetConnection> _sessions = [];
    private TcpListener? _listener;
    private IPEndPoint? _endpoint;
    private Task _acceptLoop = Task.CompletedTask;
    private int _nextTsih;
    private long _totalSessions;
    private long _loginFailures;
    private long _protocolErrors;
    private long _commands;
    private long _bytesRead;
    private long _bytesWritten;

    public IscsiTarget(TargetOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.TargetName)) throw new ArgumentException("the target needs a name", nameof(options));
        if (!options.Luns.ContainsKey(0)) throw new ArgumentException("the target needs a LUN 0", nameof(options));
        Options = options;
        var units = new Dictionary<int, ILogicalUnit>();
        foreach (var (lun, storage) in options.Luns)
        {
            var device = new DirectAccessDevice(storage, DeviceIdentity.For(options.TargetName, lun), options.BlockLimits);
            int number = lun;
            device.Log += message => Emit($"LUN {number}: {message}");
            units[lun] = device;
        }
        Units = new LogicalUnitTable(units, options.TargetName);
    }

    public TargetOptions Options { get; }

    /// <summary>The logical units behind this target.</summary>
    public LogicalUnitTable Units { get; }

    /// <summary>Everything worth knowing that happens: listening, logins and refusals with reasons, dropped connections.</summary>
    public event Action<string>? Log;

    /// <summary>Where the target listens (valid after <see cref="StartAsync"/>).</summary>
    public IPEndPoint Endpoint => _endpoint ?? throw new InvalidOperationException("the target is not started");

    public int Port => Endpoint.Port;

    /// <summary>host:port of the listening portal, as a TargetAddress would carry it.</summary>
    public string Portal => Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Endpoint.Address}]:{Port}" : $"{Endpoint.Address}:{Port}";

    /// <summary>Sessions in the full-feature phase right now (discovery sessions included).</summary>
    public int ActiveSessions { get { lock (_sessionLock) return _sessions.Count; } }

    /// <summary>Open TCP connections, logged in or not.</summary>
    public int ActiveConnections => _connections.Count;

    public long TotalSessions => Interlocked.Read(ref _totalSessions);
    public long LoginFailures => Interlocked.Read(ref _loginFailures);
    /// <summary>Connections dropped because the initiator broke the protocol.</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    public long CommandsCompleted => Interlocked.Read(ref _commands);
    public long BytesRead => Interlocked.Read(ref _bytesRead);
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>Snapshot of the sessions in the full-feature phase.</summary>
    public IReadOnlyList<TargetSession> Sessions
    {
        get { lock (_sessionLock) return _sessions.Select(c => c.Session!).ToArray(); }
    }

    /// <summary>Binds the portal and starts accepting; throws <see cref="SocketException"/> when the address is in use.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (_listener is not null) throw new InvalidOperationException("the target is already started");
        IPAddress address = await ResolveAsync(Options.Host, ct).ConfigureAwait(false);
        var listener = new TcpListener(address, Options.Port);
        listener.Start(backlog: 64);
        _listener = listener;
        _endpoint = (IPEndPoint)listener.LocalEndpoint; // kept: a stopped listener forgets the picked port
        Emit($"listening on {Portal} for {Options.TargetName}");
        _acceptLoop = AcceptLoopAsync(listener, _stopping.Token);
    }

    private static async Task<IPAddress> ResolveAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out IPAddress? address)) return address;
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) when (ct.IsCancellationRequested || e.SocketErrorCode == SocketError.OperationAborted) { return; }
            catch (SocketException e)
            {
                Emit($"accept failed: {e.Message}");
                try { await Task.Delay(100, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }
            socket.NoDelay = true;
            var connection = new TargetConnection(this, socket, ct);
            var started = new TaskCompletionSource();
            _connections[connection] = Task.Run(async () =>
            {
                await started.Task.ConfigureAwait(false);
                await connection.RunAsync().ConfigureAwait(false);
            }, CancellationToken.None);
            started.SetResult();
        }
    }

    /// <summary>Stops listening, closes every connection and waits (bounded) for them to finish.</summary>
    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _listener?.Stop();
        try { await _acceptLoop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        foreach (var connection in _connections.Keys) connection.Abort("target stopping");
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Emit($"{_connections.Count} connection(s) did not close within 10 s");
        }
        if (_listener is not null) Emit($"stopped listening on {Portal}");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>A new, non-zero TSIH not used by a live session.</summary>
    internal ushort AllocateTsih()
    {
        lock (_sessionLock)
        {
            while (true)
            {
                ushort tsih = (ushort)++_nextTsih;
                if (tsih != 0 && !_sessions.Any(c => c.Session!.Tsih == tsih)) return tsih;
            }
        }
    }

    /// <summary>A login succeeded. A live session of the same initiator port (name + ISID) is replaced (session reinstatement).</summary>
    internal void SessionStarted(TargetConnection connection)
    {
        TargetSession session = connection.Session!;
        List<TargetConnection> replaced;
        lock (_sessionLock)
        {
            replaced = _sessions.Where(c => c != connection && c.Session!.SameInitiatorPort(session.InitiatorName, session.Isid)).ToList();
            _sessions.Add(connection);
        }
        foreach (var old in replaced) old.Abort($"session reinstated by a new login from {connection.Peer}");
        Interlocked.Increment(ref _totalSessions);
        Emit($"{connection.Peer}: {session} logged in ({session.Parameters})");
    }

    internal void ConnectionClosed(TargetConnection connection, string reason)
    {
        bool hadSession;
        lock (_sessionLock) hadSession = _sessions.Remove(connection);
        _connections.TryRemove(connection, out _);
        Emit(hadSession ? $"{connection}: ended: {reason}" : $"{connection.Peer}: connection closed: {reason}");
    }

    internal void CountLoginFailure() => Interlocked.Increment(ref _loginFailures);
    internal void CountProtocolError() => Interlocked.Increment(ref _protocolErrors);

    internal void CountCommand(long read, long written)
    {
        Interlocked.Increment(ref _commands);
        if (read > 0) Interlocked.Add(ref _bytesRead, read);
        if (written > 0) Interlocked.Add(ref _bytesWritten, written);
    }

    internal void Emit(string message)
    {
        try { Log?.Invoke(message); }
        catch (Exception) { } // a faulty log handler must not take a connection down
    }
}
