using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using IscsiUp.Io;

namespace IscsiUp.Nbd;

/// <summary>
/// NBD server for one or more <see cref="NbdExport"/>s. Listens on loopback TCP and/or unix sockets
/// (<see cref="ListenTcp"/>, <see cref="ListenUnix"/>, then <see cref="StartAsync"/>), runs the fixed-newstyle
/// handshake and the transmission phase for every accepted client independently, and can also serve a socket
/// that is already in the transmission phase (<see cref="ServeTransmissionAsync(Socket, CancellationToken)"/>,
/// for the kernel NBD client). <see cref="StopAsync"/> closes the listeners and every connection.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<Listener> _listeners = [];
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly CancellationTokenSource _stop = new();
    private NbdExport[] _exports = [];
    private long _nextConnectionId;
    private bool _started;
    private Task? _stopTask;

    public NbdServer()
    {
    }

    public NbdServer(params IEnumerable<NbdExport> exports)
    {
        foreach (var e in exports)
            AddExport(e);
    }

    /// <summary>Receives one line per notable event (connections, protocol errors, backend failures).</summary>
    public Action<string>? Log { get; init; }

    public NbdTransmissionOptions TransmissionOptions { get; init; } = NbdTransmissionOptions.Default;

    /// <summary>When the connections' sends leave; a session host passes the schedule its iSCSI connection follows,
    /// so that the commands of requests read in one go leave together.</summary>
    public SendSchedule Schedule { get; init; } = new();

    /// <summary>A client that has not entered the transmission phase after this long is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Accepted connections beyond this many are closed at once.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>The exports offered; the first one (or the one named "") is the default export.</summary>
    public IReadOnlyList<NbdExport> Exports => Volatile.Read(ref _exports);

    /// <summary>Connections currently being served (handshake or transmission).</summary>
    public int ConnectionCount => _connections.Count;

    public void AddExport(NbdExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        lock (_gate)
        {
            if (_exports.Any(e => e.Name == export.Name))
                throw new ArgumentException($"an export named '{export.Name}' already exists", nameof(export));
            _exports = [.. _exports, export];
        }
    }

    /// <summary>Stops offering an export to new clients; connections already using it continue.</summary>
    public bool RemoveExport(string name)
    {
        lock (_gate)
        {
            var kept = _exports.Where(e => e.Name != name).ToArray();
            bool removed = kept.Length != _exports.Length;
            _exports = kept;
            return removed;
        }
    }

    /// <summary>
    /// Binds a TCP listener and returns its actual endpoint (port 0 picks a free port). Only loopback
    /// addresses are allowed unless <paramref name="allowRemote"/> is set: NBD has no authentication.
    /// </summary>
    public IPEndPoint ListenTcp(IPEndPoint endpoint, bool allowRemote = false)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!allowRemote && !IPAddress.IsLoopback(endpoint.Address))
            throw new ArgumentException($"refusing to serve NBD on non-loopback address {endpoint.Address} (NBD has no authentication); pass allowRemote to override", nameof(endpoint));
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(128);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var local = (IPEndPoint)socket.LocalEndPoint!;
        AddListener(new Listener(socket, null, local.ToString()));
        return local;
    }

    /// <summary>
    /// Binds a unix stream socket at <paramref name="path"/> with permissions <paramref name="mode"/> (owner
    /// only by default). A stale socket left by a dead server is replaced; a live one or any other file is not.
    /// </summary>
    public void ListenUnix(string path, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RemoveStaleSocket(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, mode);
            socket.Listen(128);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        AddListener(new Listener(socket, path, path));
    }

    /// <summary>Starts accepting on every listener (those added later start at once).</summary>
    public Task StartAsync(CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopTask is not null, this);
            if (_started)
                return Task.CompletedTask;
            _started = true;
            foreach (var l in _listeners)
                l.AcceptLoop = Task.Run(() => AcceptLoopAsync(l));
        }
        return Task.CompletedTask;
    }

    /// <summary>Closes the listeners, cancels every connection (in-flight backend calls see cancellation) and
    /// waits for them to finish. Idempotent.</summary>
    public Task StopAsync()
    {
        lock (_gate)
        {
            _stopTask ??= StopCoreAsync();
            return _stopTask;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>Serves a connected socket from the start: handshake, then transmission. Completes when the
    /// connection ends; never faults for client behaviour.</summary>
    public Task ServeConnectionAsync(Socket socket, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return Track(socket, token => ServeConnectionCoreAsync(socket, token), ct);
    }

    /// <summary>Serves the default export on a socket already in the transmission phase (no handshake,
    /// simple replies only), as the kernel NBD client expects. Completes when the connection ends.</summary>
    public Task ServeTransmissionAsync(Socket socket, CancellationToken ct = default)
    {
        var export = NbdExport.Resolve(Exports, "") ?? throw new InvalidOperationException("the server has no export");
        return ServeTransmissionAsync(socket, export, ct);
    }

    /// <summary>Serves <paramref name="export"/> on a socket already in the transmission phase; <paramref name="drain"/>
    /// stops taking requests and ends once those already taken are answered.</summary>
    public Task ServeTransmissionAsync(Socket socket, NbdExport export, CancellationToken ct = default, CancellationToken drain = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(export);
        return Track(socket, async token =>
        {
            try
            {
                await NbdTransmission.ServeAsync(socket, export, TransmissionOptions, Log, token, drain, Schedule).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log?.Invoke($"nbd: transmission on {export.Name} ended with {e.GetType().Name}: {e.Message}");
            }
        }, ct);
    }

    private void AddListener(Listener listener)
    {
        lock (_gate)
        {
            if (_stopTask is not null)
            {
                listener.Socket.Dispose();
                throw new ObjectDisposedException(nameof(NbdServer));
            }
            _listeners.Add(listener);
            if (_started)
                listener.AcceptLoop = Task.Run(() => AcceptLoopAsync(listener));
        }
    }

    private async Task AcceptLoopAsync(Listener listener)
    {
        var ct = _stop.Token;
        Log?.Invoke($"nbd: listening on {listener.Description}");
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.Socket.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                Log?.Invoke($"nbd: accept on {listener.Description} failed: {e.Message}");
                try
                {
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            if (_connections.Count >= MaxConnections)
            {
                Log?.Invoke($"nbd: too many connections ({MaxConnections}); refusing one on {listener.Description}");
                client.Dispose();
                continue;
            }
            _ = Track(client, token => ServeConnectionCoreAsync(client, token), CancellationToken.None);
        }
    }

    private Task Track(Socket socket, Func<CancellationToken, Task> serve, CancellationToken ct)
    {
        if (_stop.IsCancellationRequested)
        {
            socket.Dispose();
            throw new ObjectDisposedException(nameof(NbdServer));
        }
        long id = Interlocked.Increment(ref _nextConnectionId);
        var task = Task.Run(async () =>
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
            try
            {
                await serve(linked.Token).ConfigureAwait(false);
            }
            finally
            {
                _connections.TryRemove(id, out _);
            }
        });
        _connections.TryAdd(id, task);
        if (task.IsCompleted)
            _connections.TryRemove(id, out _);
        return task;
    }

    private async Task ServeConnectionCoreAsync(Socket socket, CancellationToken ct)
    {
        string peer = NbdTransmission.DescribePeer(socket);
        try
        {
            if (socket.ProtocolType == ProtocolType.Tcp)
                socket.NoDelay = true;
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var input = Schedule.BufferedReader(stream, TransmissionOptions.ReceiveBufferSize);
            NbdHandshakeResult? result;
            using (var handshakeCts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshakeCts.CancelAfter(HandshakeTimeout);
                try
                {
                    result = await new NbdHandshake(input, stream, Exports, Log, peer).RunAsync(handshakeCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Log?.Invoke($"nbd [{peer}]: handshake timed out after {HandshakeTimeout.TotalSeconds:0}s; closing");
                    return;
                }
                catch (EndOfStreamException)
                {
                    Log?.Invoke($"nbd [{peer}]: client closed the connection during the handshake");
                    return;
                }
            }
            if (result is null)
                return;
            Log?.Invoke($"nbd [{peer}]: client entered transmission on export '{result.Export.Name}'" +
                        (result.StructuredReplies ? " with structured replies" : ""));
            await new NbdTransmission(input, stream, Schedule, result.Export, result.StructuredReplies, TransmissionOptions, Log, peer)
                .RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log?.Invoke($"nbd [{peer}]: connection ended with {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task StopCoreAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Listener[] listeners;
        lock (_gate)
            listeners = [.. _listeners];
        foreach (var l in listeners)
        {
            l.Socket.Dispose();
            if (l.UnixPath is not null)
            {
                try
                {
                    File.Delete(l.UnixPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Log?.Invoke($"nbd: could not remove {l.UnixPath}: {e.Message}");
                }
            }
        }
        foreach (var l in listeners)
        {
            if (l.AcceptLoop is { } loop)
                await loop.ConfigureAwait(false);
        }
        while (!_connections.IsEmpty)
        {
            foreach (var c in _connections.Values.ToArray())
            {
                try
                {
                    await c.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Connection tasks log their own failures.
                }
            }
        }
    }

    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path))
            return;
        if (!IsSocket(path))
            throw new IOException($"{path} exists and is not a socket");
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"{path} is in use by a running server");
            }
            catch (SocketException)
            {
                // Nobody listens: a stale socket from a server that died.
            }
        }
        File.Delete(path);
    }

    private static unsafe bool IsSocket(string path)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path + "\0");
        Tmds.Linux.stat st;
        fixed (byte* p = bytes)
        {
            if (Tmds.Linux.LibC.lstat(p, &st) != 0)
                return false;
        }
        return Tmds.Linux.LibC.S_ISSOCK(st.st_mode);
    }

    private sealed class Listener(Socket socket, string? unixPath, string description)
    {
        public Socket Socket { get; } = socket;
        public string? UnixPath { get; } = unixPath;
        public string Description { get; } = description;
        public Task? AcceptLoop { get; set; }
    }
}
