using System.Collections.Concurrent;
using System.Net;
using IscsiUp.Nbd;
using Xunit.Abstractions;

namespace IscsiUp.Nbd.Tests;

/// <summary>An <see cref="NbdServer"/> over a <see cref="MemoryBackend"/>, listening on loopback TCP and a unix
/// socket, with its log lines captured (and echoed to the test output).</summary>
public sealed class NbdTestServer : IAsyncDisposable
{
    private readonly ITestOutputHelper? _output;
    private readonly string _dir;

    public NbdTestServer(ITestOutputHelper? output, MemoryBackend? backend = null, string exportName = "disk",
        string? description = "test disk", NbdTransmissionOptions? options = null, params NbdExport[] extraExports)
    {
        _output = output;
        Backend = backend ?? new MemoryBackend();
        Export = new NbdExport(exportName, Backend, description);
        Server = new NbdServer([Export, .. extraExports])
        {
            Log = line =>
            {
                Logs.Enqueue(line);
                try
                {
                    _output?.WriteLine(line);
                }
                catch (InvalidOperationException)
                {
                    // Output helper is gone after the test finished.
                }
            },
            TransmissionOptions = options ?? NbdTransmissionOptions.Default,
        };
        Endpoint = Server.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
        _dir = Path.Combine(Path.GetTempPath(), "nbdt-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        SocketPath = Path.Combine(_dir, "s");
        Server.ListenUnix(SocketPath);
        Server.StartAsync().GetAwaiter().GetResult();
    }

    public MemoryBackend Backend { get; }
    public NbdExport Export { get; }
    public NbdServer Server { get; }
    public IPEndPoint Endpoint { get; }
    public string SocketPath { get; }
    public ConcurrentQueue<string> Logs { get; } = new();

    /// <summary>nbd://127.0.0.1:PORT/NAME</summary>
    public string TcpUri(string? name = null) => $"nbd://127.0.0.1:{Endpoint.Port}/{name ?? Export.Name}";

    /// <summary>nbd+unix:///NAME?socket=PATH</summary>
    public string UnixUri(string? name = null) => $"nbd+unix:///{name ?? Export.Name}?socket={SocketPath}";

    /// <summary>A file in the server's private temp directory.</summary>
    public string TempFile(string name) => Path.Combine(_dir, name);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
