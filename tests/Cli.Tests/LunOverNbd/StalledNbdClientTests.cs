using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// NBD clients that send READs and never read the replies (issue 19, class 4), served from a LUN of the bundled
/// target over a real iSCSI session. They must not stall the other clients of the LUN, must not hold more than
/// the memory budget, and are disconnected once their replies have waited for the stall timeout.
/// </summary>
public sealed class StalledNbdClientTests : IAsyncLifetime
{
    private const int MiB = 1 << 20;
    private Raid5Array? _storage;
    private IscsiTarget? _target;
    private IscsiSession? _session;
    private ScsiDisk? _disk;

    public async Task InitializeAsync()
    {
        _storage = Raid5Array.CreateInMemory(3, 0, 16 * MiB, 64 * 1024);
        _target = new IscsiTarget(new TargetOptions
        {
            TargetName = "iqn.2026-11.org.iscsi-up.test:stalled",
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = _storage },
        });
        await _target.StartAsync();
        _session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", _target.Port), new LoginOptions
        {
            InitiatorName = "iqn.2026-11.org.iscsi-up.test:nbd-clients",
            TargetName = "iqn.2026-11.org.iscsi-up.test:stalled",
            Timeout = TimeSpan.FromSeconds(10),
        });
        _disk = await ScsiDisk.OpenAsync(_session, 0);
    }

    /// <summary>Serves the LUN on a fresh socket pair (transmission phase, simple replies) and returns the client end.</summary>
    private RawNbdClient Serve(NbdServer server)
    {
        var (serverEnd, clientEnd) = RawNbdClient.SocketPair();
        _ = server.ServeTransmissionAsync(serverEnd);
        return new RawNbdClient(clientEnd);
    }

    private NbdServer Server(NbdTransmissionOptions options, Action<string>? log = null) =>
        new(new NbdExport("lun0", new LunBlockBackend(_disk!))) { TransmissionOptions = options, Log = log };

    private static async Task SendReadsAsync(RawNbdClient client, int count, int length)
    {
        for (int i = 0; i < count; i++)
            await client.SendRequestAsync(CmdRead, cookie: (ulong)i, offset: (ulong)(i % 32) * MiB, length: (uint)length);
    }

    private static async Task ReadOnceAsync(RawNbdClient client, ulong cookie, int length)
    {
        await client.SendRequestAsync(CmdRead, cookie, offset: 0, length: (uint)length);
        var (error, echoed) = await client.ReadSimpleReplyAsync();
        Assert.Equal(0u, error);
        Assert.Equal(cookie, echoed);
        await client.ReadBytesAsync(length);
    }

    [Fact]
    public async Task A_client_that_never_reads_its_replies_does_not_stall_the_other_clients_of_the_lun()
    {
        // Room for everything the stalled client asks, and no stall timeout: only the session's own behaviour counts.
        await using var server = Server(new NbdTransmissionOptions
        {
            MemoryBudget = new NbdMemoryBudget(1L << 30),
            ReplyStallTimeout = Timeout.InfiniteTimeSpan,
        });
        await using var stalled = Serve(server);
        await using var good = Serve(server);

        // Reads of one iSCSI command each, which resume on the session's receive loop (the path the kernel's
        // requests take), 16 MiB in all: far more than the socket holds.
        await SendReadsAsync(stalled, 256, 64 * 1024);
        await Task.Delay(2000); // its replies fill the socket meanwhile, and then wait

        // Before, the iSCSI receive loop waited for the stalled client's socket to take a held-back reply, and every
        // other client of the LUN waited with it.
        for (int i = 0; i < 10; i++)
            await ReadOnceAsync(good, cookie: 1000UL + (ulong)i, 64 * 1024).WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Stalled_clients_hold_no_more_than_the_shared_budget_and_are_disconnected_after_the_stall_timeout()
    {
        var budget = new NbdMemoryBudget(8 * MiB);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = Server(new NbdTransmissionOptions { MemoryBudget = budget, ReplyStallTimeout = TimeSpan.FromSeconds(2) }, log.Enqueue);
        await using var first = Serve(server);
        await using var second = Serve(server);

        await SendReadsAsync(first, 32, MiB);
        await SendReadsAsync(second, 32, MiB);
        await WaitUntilAsync(() => budget.InUse == 8 * MiB, "the stalled clients to take the whole budget");
        await Task.Delay(500);
        Assert.Equal(8 * MiB, budget.InUse); // of the 64 MiB they asked for

        // A newcomer waits for budget until the stalled ones are dropped (one after the other: the second gets
        // budget only when the first is gone), then is served.
        await using var newcomer = Serve(server);
        await ReadOnceAsync(newcomer, cookie: 77, MiB).WaitAsync(TimeSpan.FromSeconds(30));

        await WaitUntilAsync(() => log.Count(l => l.EndsWith("client has not read its replies for 2 s; closing", StringComparison.Ordinal)) == 2,
            "both stalled clients to be disconnected");
        await WaitUntilAsync(() => budget.InUse == 0, "the budget to be free again");
        Assert.True(await first.IsClosedByServerAsync());
        Assert.True(await second.IsClosedByServerAsync());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    public async Task DisposeAsync()
    {
        if (_session is not null) await _session.DisposeAsync();
        if (_target is not null) await _target.DisposeAsync();
        _storage?.Dispose();
    }
}
