using IscsiUp.Iscsi.Pdus;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>SendTargets in discovery and normal sessions, including answers split over several Text PDUs.</summary>
public sealed class DiscoveryTests
{
    [Fact]
    public async Task SendTargetsAllListsTheTargetWithItsPortal()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, null);

        TextKeys answer = await SendTextAsync(initiator, new TextKeys { { "SendTargets", "All" } });

        Assert.Equal(
            new[] { KeyValuePair.Create("TargetName", TestTargets.TargetName), KeyValuePair.Create("TargetAddress", $"127.0.0.1:{running.Port},1") },
            answer);
    }

    [Fact]
    public async Task SendTargetsForAnotherNameListsNothing()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, null);

        TextKeys answer = await SendTextAsync(initiator, new TextKeys { { "SendTargets", "iqn.2025-01.org.iscsi-up:elsewhere" } });

        Assert.Empty(answer);
    }

    [Fact]
    public async Task SendTargetsWorksInANormalSessionToo()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);

        TextKeys answer = await SendTextAsync(initiator, new TextKeys { { "SendTargets", "" } });

        Assert.Equal(TestTargets.TargetName, answer["TargetName"]);
    }

    [Fact]
    public async Task LongAnswersAreSplitWithTheContinueBitAndFollowTheTransferTag()
    {
        string[] extra = Enumerable.Range(1, 40).Select(i => $"192.0.2.{i}:3260").ToArray();
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { AdvertisedPortals = extra });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, null, new TextKeys { { "MaxRecvDataSegmentLength", "512" } });

        // The request itself also comes in two pieces (C bit).
        byte[] request = new TextKeys { { "SendTargets", "All" } }.Encode();
        uint itt = initiator.NextItt();
        await SendTextPduAsync(initiator, itt, Pdu.ReservedTag, request[..5], more: true);
        using (Pdu ack = await initiator.ReceiveAsync())
        {
            Assert.Equal(Opcode.TextResponse, ack.Opcode);
            Assert.Equal(0, ack.DataSegmentLength);
            Assert.False(ack.Final);
        }
        await SendTextPduAsync(initiator, itt, Pdu.ReservedTag, request[5..], more: false);

        var text = new MemoryStream();
        int pieces = 0;
        while (true)
        {
            using Pdu piece = await initiator.ReceiveAsync();
            pieces++;
            Assert.Equal(Opcode.TextResponse, piece.Opcode);
            Assert.Equal(itt, piece.InitiatorTaskTag);
            Assert.True(piece.DataSegmentLength <= 512, $"piece of {piece.DataSegmentLength} bytes exceeds the declared 512");
            text.Write(piece.Data.Span);
            bool more = (piece.Flags & 0x40) != 0;
            if (!more)
            {
                Assert.True(piece.Final);
                Assert.Equal(Pdu.ReservedTag, piece.TargetTransferTag);
                break;
            }
            Assert.False(piece.Final);
            Assert.NotEqual(Pdu.ReservedTag, piece.TargetTransferTag);
            await SendTextPduAsync(initiator, itt, piece.TargetTransferTag, [], more: false);
        }

        var keys = TextKeys.Parse(text.ToArray());
        Assert.True(pieces >= 3, $"expected several pieces, got {pieces}");
        Assert.Equal(TestTargets.TargetName, keys["TargetName"]);
        var addresses = keys.Where(k => k.Key == "TargetAddress").Select(k => k.Value).ToArray();
        Assert.Equal([$"127.0.0.1:{running.Port},1", .. extra.Select(e => e + ",1")], addresses);
    }

    [Fact]
    public async Task ScsiCommandsAreRejectedInADiscoverySession()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, null);

        using (Pdu command = initiator.ScsiCommand(initiator.NextItt(), Cdb.TestUnitReady(), 0, read: false, write: false))
            await initiator.SendAsync(command);
        using Pdu reject = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.Reject, reject.Opcode);
        Assert.Equal(RejectReason.ProtocolError, reject.Response);
        Assert.Equal(Pdu.BhsLength, reject.DataSegmentLength); // the offending header comes back
        Assert.Equal((byte)Opcode.ScsiCommand, reject.Data.Span[0] & 0x3F);
    }

    [Fact]
    public async Task DiscoveryLogoutClosesTheSession()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, null);
        Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 1));

        using var logout = new Pdu(Opcode.LogoutRequest, immediate: true);
        logout.InitiatorTaskTag = initiator.NextItt();
        logout.CmdSN = initiator.CmdSN;
        await initiator.SendAsync(logout);
        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.LogoutResponse, response.Opcode);
        Assert.Equal(0, response.Response);
        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 0));
    }

    internal static async Task<TextKeys> SendTextAsync(RawInitiator initiator, TextKeys keys)
    {
        uint itt = initiator.NextItt();
        await SendTextPduAsync(initiator, itt, Pdu.ReservedTag, keys.Encode(), more: false);
        using Pdu response = await initiator.ReceiveAsync();
        Assert.Equal(Opcode.TextResponse, response.Opcode);
        Assert.Equal(itt, response.InitiatorTaskTag);
        Assert.True(response.Final);
        return TextKeys.Parse(response.Data.Span);
    }

    private static async Task SendTextPduAsync(RawInitiator initiator, uint itt, uint ttt, byte[] data, bool more)
    {
        using var pdu = new Pdu(Opcode.TextRequest, final: !more);
        if (more) pdu.Flags |= 0x40;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = ttt;
        pdu.CmdSN = initiator.CmdSN++;
        pdu.ExpStatSN = initiator.ExpStatSN;
        pdu.SetData(data);
        await initiator.SendAsync(pdu);
    }
}
