using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using System.Collections.Concurrent;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// What a user runs, against a <see cref="HostileTarget"/> serving a <see cref="HostileDisk"/>: a recovering
/// session, the LUN as an NBD export on a unix socket, and a raw NBD client on it, so tests see exactly the
/// replies an NBD client gets.
/// </summary>
internal sealed class HostileNbdStack : IAsyncDisposable
{
    public const int Blocks = 64;
    public const uint NbdEio = 5;

    /// <summary>Quick recovery for tests; the error-handling timeouts are short so escalation finishes in seconds.</summary>
    public static readonly RecoveryOptions Fast = new()
    {
        NopInterval = TimeSpan.FromSeconds(30),
        NopTimeout = TimeSpan.FromSeconds(2),
        ReplacementTimeout = TimeSpan.FromSeconds(20),
        FirstRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(400),
        CommandTimeout = TimeSpan.FromMilliseconds(800),
        AbortTimeout = TimeSpan.FromMilliseconds(500),
        LuResetTimeout = TimeSpan.FromMilliseconds(500),
        CommandRetries = 2,
    };

    private readonly string _dir;
    private ulong _cookie;

    private HostileNbdStack(HostileTarget target, HostileDisk disk, RecoveringSession session, NbdServer server, string dir, RawNbdClient client)
    {
        Target = target;
        Disk = disk;
        Session = session;
        Server = server;
        _dir = dir;
        Client = client;
    }

    public HostileTarget Target { get; }
    public HostileDisk Disk { get; }
    public RecoveringSession Session { get; }
    public NbdServer Server { get; }
    public RawNbdClient Client { get; }
    /// <summary>The recovering session's log lines.</summary>
    public ConcurrentQueue<string> Log { get; } = new();
    public string LogText => string.Join("\n", Log);

    public static LoginOptions Options => new()
    {
        InitiatorName = "iqn.2025-01.org.iscsi-up.test:hostile-nbd",
        TargetName = HostileTarget.Name,
        Timeout = TimeSpan.FromSeconds(5),
    };

    public static async Task<HostileNbdStack> StartAsync(RecoveryOptions? recovery = null, Action<HostileTarget>? configure = null)
    {
        var disk = new HostileDisk(Blocks);
        var target = new HostileTarget(disk.ServeAsync);
        configure?.Invoke(target);
        var session = await RecoveringSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options, recovery ?? Fast);
        var log = new ConcurrentQueue<string>();
        session.Log += log.Enqueue;
        var scsi = await ScsiDisk.OpenAsync(session, 0);
        string dir = Path.Combine(Path.GetTempPath(), "hostile-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var server = new NbdServer(new NbdExport("lun0", new LunBlockBackend(scsi)));
        server.ListenUnix(Path.Combine(dir, "nbd"));
        await server.StartAsync();
        var client = await RawNbdClient.ConnectUnixAsync(Path.Combine(dir, "nbd"));
        await client.StartHandshakeAsync();
        Assert.Equal(NbdConstants.RepAck, (await client.GoAsync("lun0")).Final);
        var stack = new HostileNbdStack(target, disk, session, server, dir, client);
        foreach (var line in log) stack.Log.Enqueue(line);
        session.Log += stack.Log.Enqueue;
        return stack;
    }

    /// <summary>An NBD READ through the export: the error code of the reply, and the data when there was none.</summary>
    public async Task<(uint Error, byte[] Data)> ReadAsync(long offset, int length, TimeSpan? within = null)
    {
        ulong cookie = ++_cookie;
        await Client.SendRequestAsync(NbdConstants.CmdRead, cookie, (ulong)offset, (uint)length);
        var reply = Client.ReadSimpleReplyAsync();
        var (error, got) = within is { } bound ? await reply.WaitAsync(bound) : await reply;
        Assert.Equal(cookie, got);
        return (error, error == 0 ? await Client.ReadBytesAsync(length) : []);
    }

    /// <summary>An NBD WRITE through the export; the error code of the reply.</summary>
    public async Task<uint> WriteAsync(long offset, byte[] data)
    {
        ulong cookie = ++_cookie;
        await Client.SendRequestAsync(NbdConstants.CmdWrite, cookie, (ulong)offset, (uint)data.Length, payload: data);
        var (error, got) = await Client.ReadSimpleReplyAsync();
        Assert.Equal(cookie, got);
        return error;
    }

    /// <summary>Tears everything down; a stop that hangs on a command the target never answered is a failure too.</summary>
    public async ValueTask DisposeAsync()
    {
        try { await TearDownAsync().WaitAsync(TimeSpan.FromSeconds(30)); }
        catch (TimeoutException) { Assert.Fail($"stopping the NBD export and the session hung on what the target left unanswered\n{LogText}"); }
    }

    private async Task TearDownAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        await Session.DisposeAsync();
        await Target.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
