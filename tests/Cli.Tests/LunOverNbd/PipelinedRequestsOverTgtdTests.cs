using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Io;
using static IscsiUp.Nbd.NbdConstants;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// NBD requests that arrive in one burst, served through a real iSCSI session to tgtd. The transmission loop
/// sends the iSCSI commands of requests read together as one batch; the batch must still go out when the loop
/// stops for the in-flight limit (whose room only those commands' answers can make) and not only when it runs
/// out of input. Bytes are checked against tgtd's backing file.
/// </summary>
public sealed class PipelinedRequestsOverTgtdTests
{
    private const int Block = 4096;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    public async Task A_burst_of_reads_and_writes_completes_with_the_target_bytes_under_any_in_flight_limit(int maxInFlight)
    {
        await using var target = await TgtdTarget.StartAsync();
        var before = new byte[64 * Block];
        Random.Shared.NextBytes(before);
        using (var file = new FileStream(target.BackingFile, FileMode.Open, FileAccess.Write))
            file.Write(before);

        // The session's iSCSI connection and its NBD loop on one schedule, as a session host sets them up.
        var schedule = new SendSchedule();
        await using var session = await RecoveringSession.LoginAsync(target.Portal, target.LoginOptions(), schedule: schedule);
        var disk = await ScsiDisk.OpenAsync(session, 1);
        var (server, client) = RawNbdClient.SocketPair();
        using var stop = new CancellationTokenSource();
        var serving = NbdTransmission.ServeAsync(server, new NbdExport("lun1", new LunBlockBackend(disk)),
            new NbdTransmissionOptions { MaxRequestsInFlight = maxInFlight }, null, stop.Token, schedule: schedule);
        await using var nbd = new RawNbdClient(client);

        // 32 reads of blocks 0..31 and 16 writes of blocks 32..47, in one socket write.
        var written = new Dictionary<int, byte[]>();
        using var burst = new MemoryStream();
        for (int i = 0; i < 32; i++)
            burst.Write(Request(CmdRead, cookie: (ulong)i, block: i));
        for (int i = 32; i < 48; i++)
        {
            written[i] = new byte[Block];
            Random.Shared.NextBytes(written[i]);
            burst.Write(Request(CmdWrite, cookie: (ulong)i, block: i));
            burst.Write(written[i]);
        }
        await nbd.WriteAsync(burst.ToArray());

        // Normally well under a second. A command left unsent would still go out with the session's next NOP-Out,
        // seconds later, so the bound is on the whole burst rather than on each reply.
        await ReadAllRepliesAsync().WaitAsync(TimeSpan.FromSeconds(15));
        async Task ReadAllRepliesAsync()
        {
            var answered = new HashSet<ulong>();
            for (int n = 0; n < 48; n++)
            {
                var (error, cookie) = await nbd.ReadSimpleReplyAsync();
                Assert.Equal(0u, error);
                Assert.True(cookie < 48 && answered.Add(cookie), $"unexpected or repeated cookie {cookie}");
                if (cookie < 32)
                    AssertBytes(before.AsSpan((int)cookie * Block, Block).ToArray(), await nbd.ReadBytesAsync(Block), $"NBD read of block {cookie}");
            }
        }

        await nbd.WriteAsync(Request(CmdFlush, cookie: 100, block: 0, length: 0));
        Assert.Equal((0u, 100ul), await nbd.ReadSimpleReplyAsync());
        foreach (var (block, data) in written)
            AssertBytes(data, target.ReadBacking((long)block * Block, Block), $"backing file at block {block}");

        await stop.CancelAsync();
        await serving.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static byte[] Request(ushort type, ulong cookie, int block, uint length = Block)
    {
        var header = new byte[RequestHeaderLength];
        new NbdRequest(0, type, cookie, (ulong)block * Block, length).WriteTo(header);
        return header;
    }

    private static void AssertBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int mismatch = expected.AsSpan().CommonPrefixLength(actual);
        if (mismatch != expected.Length)
            Assert.Fail($"{what}: first difference at byte {mismatch} of {expected.Length} (expected 0x{expected[mismatch]:x2}, got 0x{actual[mismatch]:x2})");
    }
}
