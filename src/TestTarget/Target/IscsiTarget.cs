using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using IscsiUp.TestTarget.Scsi;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// An iSCSI target (RFC 7143, target side) serving direct-access disks over <see cref="Storage.IBlockStorage"/>.
/// <see cref="StartAsync"/> returns once every portal listens; every accepted connection runs its own loop, so
/// many sessions work at once and a misbehaving initiator only loses its own connection. LUNs can be added,
/// removed and grown while it runs; each change raises the unit attentions a real array sends to every session.
/// </summary>
public sealed class IscsiTarget : IAsyncDisposable
{
    private readonly ConcurrentDictionary<TargetConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _sessionLock = new();
    private readonly List<TargetConnection> _sessions = [];
    private readonly Lock _lunLock = new();
    private readonly Dictionary<int, int> _lunGenerations = []; // LUN -> units it has had, guarded by _lunLock
    private List<TcpListener>? _listeners;
    private IPEndPoint[] _endpoints = [];
    private Task[] _acceptLoops = [];
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
            units[lun] = NewDevice(lun, storage);
            _lunGenerations[lun] = 1;
        }
        Units = new LogicalUnitTable(units, options.TargetName);
    }

    private DirectAccessDevice NewDevice(int lun, Storage.IBlockStorage storage)
    {
        _lunGenerations.TryGetValue(lun, out int generation);
        var device = new DirectAccessDevice(storage, DeviceIdentity.For(Options.TargetName, lun, generation), Options.BlockLimits);
        device.Log += message => Emit($"LUN {lun}: {message}");
        return device;
    }

    public TargetOptions Options { get; }

    /// <summary>The logical units behind this target.</summary>
    public LogicalUnitTable Units { get; }

    /// <summary>Everything worth knowing that happens: listening, logins and refusals with reasons, dropped connections.</summary>
    public event Action<string>? Log;

    /// <summary>Where the target listens, first portal (valid after <see cref="StartAsync"/>).</summary>
    public IPEndPoint Endpoint => Endpoints[0];

    /// <summary>Where the target listens, every portal in the order configured (valid after <see cref="StartAsync"/>).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _endpoints.Length > 0 ? _endpoints : throw new InvalidOperationException("the target is not started");

    public int Port => Endpoint.Port;

    /// <summary>host:port of the first listening portal, as a TargetAddress would carry it.</summary>
    public string Portal => PortalText(Endpoint);

    /// <summary>host:port of every listening portal.</summary>
    public IReadOnlyList<string> Portals => [.. Endpoints.Select(PortalText)];

    private static string PortalText(IPEndPoint endpoint)
    {
        IPAddress address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        return address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{endpoint.Port}" : $"{address}:{endpoint.Port}";
    }

    /// <summary>
    /// The portals as an initiator connected at <paramref name="local"/> can reach them: the one it used first, then the
    /// others; a portal listening on every address (0.0.0.0, ::) is named by the address the initiator reached.
    /// </summary>
    internal IEnumerable<string> PortalsSeenFrom(IPEndPoint local)
    {
        yield return PortalText(local);
        foreach (IPEndPoint endpoint in _endpoints)
        {
            bool wildcard = endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any);
            yield return PortalText(wildcard ? new IPEndPoint(local.Address, endpoint.Port) : endpoint);
        }
    }

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

    /// <summary>
    /// Binds every portal and starts accepting; throws <see cref="SocketException"/> (naming nothing bound) when an
    /// address is in use.
    /// </summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (_listeners is not null) throw new InvalidOperationException("the target is already started");
        var listeners = new List<TcpListener>();
        try
        {
            foreach (var (host, port) in PortalAddresses())
            {
                PortalFailed = $"{host}:{port}";
                IPAddress address = await ResolveAsync(host, ct).ConfigureAwait(false);
                var listener = new TcpListener(address, port);
                listener.Start(backlog: 64);
                listeners.Add(listener);
            }
        }
        catch
        {
            foreach (TcpListener listener in listeners) listener.Stop();
            throw;
        }
        PortalFailed = null;
        _listeners = listeners;
        _endpoints = [.. listeners.Select(l => (IPEndPoint)l.LocalEndpoint)]; // kept: a stopped listener forgets the picked port
        Emit($"listening on {string.Join(", ", Portals)} for {Options.TargetName}");
        _acceptLoops = [.. listeners.Select(l => AcceptLoopAsync(l, _stopping.Token))];
    }

    /// <summary>After <see cref="StartAsync"/> failed: the HOST:PORT it could not listen on.</summary>
    public string? PortalFailed { get; private set; }

    private IEnumerable<(string Host, int Port)> PortalAddresses()
    {
        yield return (Options.Host, Options.Port);
        foreach (Cli.ListenAddress more in Options.AdditionalPortals) yield return (more.Host, more.Port);
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
        foreach (TcpListener listener in _listeners ?? []) listener.Stop();
        try { await Task.WhenAll(_acceptLoops).ConfigureAwait(false); } catch (OperationCanceledException) { }
        foreach (var connection in _connections.Keys) connection.Abort("target stopping");
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Emit($"{_connections.Count} connection(s) did not close within 10 s");
        }
        if (_listeners is not null) Emit($"stopped listening on {string.Join(", ", Portals)}");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>
    /// Serves <paramref name="storage"/> at a free <paramref name="lun"/> and raises REPORTED LUNS DATA HAS CHANGED on
    /// the other LUNs of every session. A LUN used before in this run gets a new identity (serial, NAA).
    /// </summary>
    public bool TryAddLun(int lun, Storage.IBlockStorage storage)
    {
        lock (_lunLock)
        {
            if (Units.Find(lun) is not null || !Units.TryAdd(lun, NewDevice(lun, storage))) return false;
            _lunGenerations[lun] = _lunGenerations.GetValueOrDefault(lun) + 1;
        }
        Emit($"LUN {lun} added ({storage.Capacity} bytes)");
        RaiseOnEverySession(l => l != lun, AdditionalSense.ReportedLunsDataHasChanged);
        return true;
    }

    /// <summary>
    /// Stops serving <paramref name="lun"/> (later commands to it fail with LOGICAL UNIT NOT SUPPORTED) and raises
    /// REPORTED LUNS DATA HAS CHANGED on the remaining LUNs of every session. The last LUN cannot be removed.
    /// </summary>
    public bool TryRemoveLun(int lun)
    {
        lock (_lunLock)
        {
            if (!Units.TryRemove(lun, out _)) return false;
        }
        foreach (TargetSession session in Sessions) session.Attention?.Forget(lun);
        Emit($"LUN {lun} removed");
        RaiseOnEverySession(_ => true, AdditionalSense.ReportedLunsDataHasChanged);
        return true;
    }

    /// <summary>The storage behind <paramref name="lun"/> changed size: raises CAPACITY DATA HAS CHANGED on it for every session.</summary>
    public void CapacityChanged(int lun)
    {
        Emit($"LUN {lun} capacity changed");
        RaiseOnEverySession(l => l == lun, AdditionalSense.CapacityDataHasChanged);
    }

    private void RaiseOnEverySession(Func<int, bool> onLun, AdditionalSense sense)
    {
        IReadOnlyList<int> luns = Units.Luns;
        foreach (TargetSession session in Sessions)
        {
            foreach (int lun in luns.Where(onLun)) session.Attention?.Raise(lun, sense);
        }
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
