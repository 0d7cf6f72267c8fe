using IscsiUp.Cli.Sessions;
using IscsiUp.Initiator.Tests.Fuzz;
using IscsiUp.Initiator.Tests.Peers;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Tests;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using Xunit.Abstractions;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Cli.Tests.LunOverNbd;

/// <summary>
/// Issue 19, class 1: a target that answers a READ with GOOD status but not with the data it reports (none,
/// part of it, with gaps, overlaps or out of order, residuals that do not add up). Through the NBD export, the
/// client must get an error reply, never OK with bytes the target did not send (the read buffer is pooled: on
/// the old code it held what an earlier request wrote). The session goes on serving other reads.
/// </summary>
public sealed class HostileReadDataTests(ITestOutputHelper output)
{
    private const int Length = 8 * HostileDisk.BlockSize;
    private const ulong HostileLba = 0;
    private const long GoodOffset = 16 * HostileDisk.BlockSize;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private delegate Task Answer(HostilePeer peer, byte[] data);

    private static readonly Dictionary<string, (bool LosesConnection, Answer Answer)> Scenarios = new()
    {
        ["GOOD status and no Data-In"] = (false, (p, _) => p.SendAsync(p.Response(Opcode.ScsiResponse))),
        ["GOOD status after half the Data-In"] = (false, async (p, d) =>
        {
            await p.SendAsync(p.DataIn(0, d[..(Length / 2)]));
            await p.SendAsync(p.Response(Opcode.ScsiResponse));
        }),
        ["half the Data-In, GOOD in its S bit"] = (false, (p, d) => p.SendAsync(p.DataIn(0, d[..(Length / 2)], status: ScsiResult.Good))),
        ["an underflow residual smaller than what is missing"] = (false, async (p, d) =>
        {
            var pdu = p.DataIn(0, d[..(Length / 2)], status: ScsiResult.Good);
            pdu.Flags |= 0x02;
            pdu.ResidualCount = Length / 4;
            await p.SendAsync(pdu);
        }),
        ["an underflow residual larger than the transfer"] = (false, async (p, d) =>
        {
            var response = p.Response(Opcode.ScsiResponse);
            response.Flags |= 0x02;
            response.ResidualCount = 0xFFFF_FF00;
            await p.SendAsync(response);
        }),
        ["an exact underflow residual (a short read)"] = (false, async (p, d) =>
        {
            var pdu = p.DataIn(0, d[..(Length / 2)], status: ScsiResult.Good);
            pdu.Flags |= 0x02;
            pdu.ResidualCount = Length / 2;
            await p.SendAsync(pdu);
        }),
        ["both underflow and overflow"] = (false, async (p, d) =>
        {
            var pdu = p.DataIn(0, d, status: ScsiResult.Good);
            pdu.Flags |= 0x06;
            await p.SendAsync(pdu);
        }),
        ["a gap in the Data-In"] = (true, async (p, d) =>
        {
            await p.SendAsync(p.DataIn(0, d[..1024]));
            await p.SendAsync(p.DataIn(2048, d[2048..], status: ScsiResult.Good, dataSN: 1));
        }),
        ["overlapping Data-In"] = (true, async (p, d) =>
        {
            await p.SendAsync(p.DataIn(0, d[..3072]));
            await p.SendAsync(p.DataIn(1024, d[1024..], status: ScsiResult.Good, dataSN: 1));
        }),
        ["Data-In out of order"] = (true, async (p, d) =>
        {
            await p.SendAsync(p.DataIn(Length / 2, d[(Length / 2)..], dataSN: 1));
            await p.SendAsync(p.DataIn(0, d[..(Length / 2)], status: ScsiResult.Good, dataSN: 0));
        }),
        ["the same Data-In twice"] = (true, async (p, d) =>
        {
            await p.SendAsync(p.DataIn(0, d[..(Length / 2)]));
            await p.SendAsync(p.DataIn(0, d[..(Length / 2)]));
            await p.SendAsync(p.DataIn(Length / 2, d[(Length / 2)..], status: ScsiResult.Good, dataSN: 2));
        }),
    };

    public static TheoryData<string> Names() => [.. Scenarios.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_read_answered_with_good_status_but_not_its_data_gets_an_nbd_error_not_stale_bytes(string name)
    {
        var (losesConnection, answer) = Scenarios[name];
        await using var stack = await HostileNbdStack.StartAsync();
        var onTarget = Enumerable.Range(0, Length).Select(i => (byte)(0xD0 ^ i)).ToArray();
        onTarget.CopyTo(stack.Disk.Bytes, 0);
        stack.Disk.Intercept = async (peer, lba, blocks) =>
        {
            if (!peer.IsRead || lba != HostileLba) return false;
            await answer(peer, onTarget[..(int)(blocks * HostileDisk.BlockSize)]);
            return true;
        };

        // An earlier request leaves its bytes in the pooled buffers the next read may get.
        var written = Enumerable.Repeat((byte)0x5A, Length).ToArray();
        Assert.Equal(0u, await stack.WriteAsync(GoodOffset, written));

        var (error, data) = await stack.ReadAsync((long)HostileLba * HostileDisk.BlockSize, Length, Bound);
        output.WriteLine($"{name}: NBD error {error}, {stack.Session.Reconnects} reconnect(s)\n{stack.LogText}\ntarget: {stack.Target.LogText}");
        Assert.True(error == HostileNbdStack.NbdEio,
            $"the NBD client got {(error == 0 ? "OK" : $"error {error}")} for a read the target did not fill" +
            (error == 0 ? $" ({data.Count(b => b == 0x5A)} bytes of an earlier write, {data.Count(b => b == 0)} zero bytes)" : ""));

        // The session still serves well-formed reads.
        var (again, back) = await stack.ReadAsync(GoodOffset, Length, Bound);
        Assert.Equal(0u, again);
        Assert.Equal(written, back);
        if (losesConnection)
            Assert.InRange(stack.Session.Reconnects, 1, HostileNbdStack.Fast.CommandRetries + 1);
        else
            Assert.Equal(0, stack.Session.Reconnects);
    }

    /// <summary>What a target may do: an overflow residual with the whole buffer, several Data-In in order.</summary>
    [Fact]
    public async Task Reads_with_an_overflow_residual_or_several_data_in_still_succeed()
    {
        await using var stack = await HostileNbdStack.StartAsync();
        var onTarget = Enumerable.Range(0, Length).Select(i => (byte)(0x3C ^ i)).ToArray();
        stack.Disk.Intercept = async (peer, lba, blocks) =>
        {
            if (!peer.IsRead) return false;
            if (lba == 0)
            {
                var pdu = peer.DataIn(0, onTarget, status: ScsiResult.Good);
                pdu.Flags |= 0x04; // O: the target had more than we asked for
                pdu.ResidualCount = 512;
                await peer.SendAsync(pdu);
            }
            else
            {
                for (uint i = 0; i < 4; i++)
                    await peer.SendAsync(peer.DataIn(i * 1024, onTarget[(int)(i * 1024)..(int)((i + 1) * 1024)], status: i == 3 ? ScsiResult.Good : null, dataSN: i));
            }
            return true;
        };
        foreach (long offset in new long[] { 0, GoodOffset })
        {
            var (error, data) = await stack.ReadAsync(offset, Length, Bound);
            Assert.Equal(0u, error);
            Assert.Equal(onTarget, data);
        }
        Assert.Equal(0, stack.Session.Reconnects);
    }
}
