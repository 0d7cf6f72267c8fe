using System.Net;
using System.Net.Sockets;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;
using IscsiUp.Initiator.Session;
using IscsiUp.Initiator.Tests.Login;

namespace IscsiUp.Initiator.Tests.Session;

/// <summary>
/// A target on 127.0.0.1 that answers each Login request of each connection with a script (see
/// <see cref="LoginScripts"/>); an answer of null closes that connection. It counts connections and keeps the
/// text of every request.
/// </summary>
internal sealed class ScriptedLoginTarget : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private int _connections;

    public ScriptedLoginTarget(Func<Pdu, byte[]?> answer)
    {
        _listener.Start();
        _acceptLoop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                Interlocked.Increment(ref _connections);
                _ = Task.Run(() => ServeAsync(client, answer));
            }
        });
    }

    public Portal Portal => new("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);
    public int Connections => Volatile.Read(ref _connections);
    public System.Collections.Concurrent.ConcurrentQueue<TextKeys> Requests { get; } = new();

    private async Task ServeAsync(TcpClient client, Func<Pdu, byte[]?> answer)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new PduReader(stream);
        using var request = new Pdu();
        try
        {
            while (await reader.ReadPduAsync(request, _stop.Token))
            {
                Requests.Enqueue(TextKeys.Parse(request.Data.Span));
                if (answer(request) is not { } response) return;
                await stream.WriteAsync(response, _stop.Token);
            }
        }
        catch (Exception) { } // the initiator hung up or the test ended
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
    }
}
