using System.Net;
using System.Net.Sockets;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Peers;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a portal that records both directions, so a test can see what was said
/// on the wire (for example which CHAP algorithm a real target chose). Stops on dispose.
/// </summary>
public sealed class LoopbackRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Portal _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly MemoryStream _fromTarget = new();
    private readonly MemoryStream _fromInitiator = new();
    private readonly List<Task> _pumps = [];
    private readonly List<TcpClient> _clients = [];
    private readonly Task _acceptLoop;
    private long _bytesFromInitiator;

    public LoopbackRelay(Portal upstream)
    {
        _upstream = upstream;
        _listener.Start();
        Portal = new Portal("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);
        _acceptLoop = AcceptAsync();
    }

    public Portal Portal { get; }

    /// <summary>Keep a copy of the traffic (for login inspection); turn off for bulk I/O.</summary>
    public bool Record { get; set; } = true;

    /// <summary>Everything the target sent so far, all connections joined.</summary>
    public byte[] FromTarget { get { lock (_fromTarget) return _fromTarget.ToArray(); } }

    public byte[] FromInitiator { get { lock (_fromInitiator) return _fromInitiator.ToArray(); } }

    /// <summary>Bytes relayed from the initiator so far, recorded or not.</summary>
    public long BytesFromInitiator => Interlocked.Read(ref _bytesFromInitiator);

    /// <summary>Waits until <paramref name="bytes"/> more bytes came from the initiator: a test that cuts the portal
    /// while I/O flows knows it is flowing, rather than guessing with a delay that a fast machine outruns.</summary>
    public async Task WaitForInitiatorBytesAsync(long bytes, TimeSpan timeout)
    {
        long target = BytesFromInitiator + bytes;
        var deadline = DateTime.UtcNow + timeout;
        while (BytesFromInitiator < target)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the relay saw {BytesFromInitiator - target + bytes} of {bytes} bytes from the initiator within {timeout.TotalSeconds:0} s");
            await Task.Delay(5);
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                await server.ConnectAsync(_upstream.Host, _upstream.Port, _stop.Token);
                lock (_clients) { _clients.Add(client); _clients.Add(server); }
                lock (_pumps)
                {
                    _pumps.Add(PumpAsync(client, server, _fromInitiator));
                    _pumps.Add(PumpAsync(server, client, _fromTarget));
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, MemoryStream record)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            var input = from.GetStream();
            var output = to.GetStream();
            while (true)
            {
                int n = await input.ReadAsync(buffer, _stop.Token);
                if (n == 0) break;
                if (record == _fromInitiator) Interlocked.Add(ref _bytesFromInitiator, n);
                if (Record) lock (record) record.Write(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
            to.Client?.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // One side went away: take the other down too, as a plain TCP path would.
            to.Dispose();
        }
    }

    /// <summary>Resets every relayed connection at once (a cable pulled, a NAT forgetting the flow); new connections still pass.</summary>
    public void CutConnections()
    {
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                // A pump may have disposed this side already (its peer went away), which leaves Client null.
                var socket = client.Client;
                if (socket is not null)
                    try { socket.LingerState = new LingerOption(true, 0); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
                client.Dispose();
            }
            _clients.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_clients) foreach (var client in _clients) client.Dispose();
        Task[] pumps;
        lock (_pumps) pumps = [.. _pumps];
        try { await Task.WhenAll(pumps.Append(_acceptLoop)).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (TimeoutException) { }
        _stop.Dispose();
    }
}
