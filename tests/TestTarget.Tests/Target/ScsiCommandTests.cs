using IscsiUp.Iscsi.Pdus;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>Full-feature phase with raw PDUs: Data-Out/R2T, Data-In, status, sense, residuals, NOP, TMF, Reject, digests.</summary>
public sealed class ScsiCommandTests
{
    private const int Capacity = 4 << 20;

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<(RunningTarget, RawInitiator, MemoryStorage)> LoggedInAsync(TextKeys? keys = null, Func<TargetOptions, TargetOptions>? configure = null)
    {
        var storage = new MemoryStorage(Capacity);
        var running = await TestTargets.StartAsync(storage, configure);
        var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName, keys);
        return (running, initiator, storage);
    }

    [Fact]
    public async Task WriteWithImmediateDataAndR2TsLandsInStorage()
    {
        // FirstBurstLength 4096, MaxBurstLength 16384, MaxRecvDataSegmentLength 8192 (RawInitiator defaults).
        var (running, initiator, storage) = await LoggedInAsync();
        await using var _ = running;
        await using var __ = initiator;
        byte[] data = Pattern(64 * 512, 1);

        ScsiOutcome outcome = await initiator.WriteAsync(Cdb.Write10(100, 64), data, immediateBytes: 4096);

        Assert.Equal(0, outcome.Status);
        // InitialR2T=Yes: everything after the immediate data is solicited, MaxBurstLength at a time, in order.
        Assert.Equal(
            [(4096u, 16384u, 0u), (20480u, 12288u, 1u)],
            outcome.R2Ts);
        Assert.Equal(data, storage.Bytes.AsSpan(100 * 512, data.Length).ToArray());
        Assert.False(outcome.Overflow || outcome.Underflow);
    }

    [Fact]
    public async Task ReadReturnsTheBytesSplitByTheInitiatorsSegmentLength()
    {
        var (running, initiator, storage) = await LoggedInAsync();
        await using var _ = running;
        await using var __ = initiator;
        byte[] data = Pattern(40 * 512, 2);
        data.CopyTo(storage.Bytes, 7 * 512);

        ScsiOutcome outcome = await initiator.ExecuteAsync(Cdb.Read10(7, 40), (uint)data.Length);

        Assert.Equal(0, outcome.Status);
        Assert.True(outcome.StatusInDataIn, "GOOD without sense goes in the last Data-In (S bit)");
        Assert.Equal(data, outcome.Data);
        Assert.All(outcome.DataIns, d => Assert.True(d.Length <= 8192));
        Assert.Equal(Enumerable.Range(0, outcome.DataIns.Count).Select(i => (uint)i), outcome.DataIns.Select(d => d.DataSN));
        // F bit at the end of each MaxBurstLength (16384) sequence and at the end.
        Assert.Equal([16384u, 20480u], outcome.DataIns.Where(d => (d.Flags & 0x80) != 0).Select(d => d.Offset + (uint)d.Length));
    }

    [Fact]
    public async Task WriteThenReadRoundTripsThroughTheTarget()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        byte[] data = Pattern(33 * 512, 3);

        Assert.Equal(0, (await initiator.WriteAsync(Cdb.Write16(2000, 33), data, immediateBytes: 512)).Status);
        ScsiOutcome read = await initiator.ExecuteAsync(Cdb.Read16(2000, 33), (uint)data.Length);

        Assert.Equal(data, read.Data);
    }

    [Fact]
    public async Task ReadBeyondTheEndIsCheckConditionLbaOutOfRange()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint blocks = Capacity / 512;

        ScsiOutcome outcome = await initiator.ExecuteAsync(Cdb.Read10(blocks - 1, 2), 1024);

        Assert.Equal(0x02, outcome.Status);
        Assert.False(outcome.StatusInDataIn);
        Assert.Equal(0x05, outcome.SenseKey); // ILLEGAL REQUEST
        Assert.Equal(0x21, outcome.Asc); // LBA OUT OF RANGE
        Assert.Equal(0x00, outcome.Sense[13]);
        Assert.Empty(outcome.Data);
    }

    [Fact]
    public async Task WriteBeyondTheEndIsRefusedAndStorageIsUntouched()
    {
        var (running, initiator, storage) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint blocks = Capacity / 512;

        ScsiOutcome outcome = await initiator.WriteAsync(Cdb.Write10(blocks - 1, 2), Pattern(1024, 4), immediateBytes: 1024);

        Assert.Equal(0x02, outcome.Status);
        Assert.Equal(0x21, outcome.Asc);
        Assert.All(storage.Bytes[^512..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task UnsolicitedDataOutUpToFirstBurstThenR2Ts()
    {
        var keys = RawInitiator.DefaultOperationalKeys(false);
        keys.RemoveAll(k => k.Key is "InitialR2T" or "MaxOutstandingR2T");
        keys.Add("InitialR2T", "No");
        keys.Add("MaxOutstandingR2T", "2");
        var (running, initiator, storage) = await LoggedInAsync(keys);
        await using var __ = running;
        await using var ___ = initiator;
        Assert.Equal("No", initiator.Answers["InitialR2T"]);
        byte[] data = Pattern(80 * 512, 5);

        // 1024 bytes immediate + 3072 unsolicited Data-Out = FirstBurstLength 4096.
        ScsiOutcome outcome = await initiator.WriteAsync(Cdb.Write10(0, 80), data, immediateBytes: 1024, unsolicitedBytes: 3072);

        Assert.Equal(0, outcome.Status);
        // Two R2Ts may be outstanding: the first two come together, the third after the first burst.
        Assert.Equal([4096u, 20480u, 36864u], outcome.R2Ts.Select(r => r.Offset));
        Assert.Equal([16384u, 16384u, 4096u], outcome.R2Ts.Select(r => r.Length));
        Assert.Equal(data, storage.Bytes.AsSpan(0, data.Length).ToArray());
    }

    [Fact]
    public async Task ResidualsAreReportedForShortAndLongExpectedLengths()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;

        ScsiOutcome longer = await initiator.ExecuteAsync(Cdb.Read10(0, 1), 2048);
        Assert.True(longer.Underflow);
        Assert.Equal(1536u, longer.ResidualCount);
        Assert.Equal(512, longer.Data.Length);

        ScsiOutcome shorter = await initiator.ExecuteAsync(Cdb.Read10(0, 4), 1024);
        Assert.True(shorter.Overflow);
        Assert.Equal(1024u, shorter.ResidualCount);
        Assert.Equal(1024, shorter.Data.Length);

        ScsiOutcome inquiry = await initiator.ExecuteAsync(Cdb.Inquiry(allocation: 255), 255);
        Assert.True(inquiry.Underflow); // 96 bytes of standard data for 255 expected
        Assert.Equal(255u - 96, inquiry.ResidualCount);
    }

    [Fact]
    public async Task CommandWindowIsOpenAndAdvances()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;

        await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false);

        Assert.Equal(initiator.CmdSN, initiator.LastExpCmdSN);
        Assert.Equal(127u, initiator.LastMaxCmdSN - initiator.LastExpCmdSN); // a window of 128
    }

    [Fact]
    public async Task ManyCommandsInFlightAllGetTheirOwnAnswer()
    {
        var (running, initiator, storage) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        for (int i = 0; i < 32; i++) Pattern(512, 100 + i).CopyTo(storage.Bytes, i * 4096);

        var itts = new Dictionary<uint, int>();
        for (int i = 0; i < 32; i++)
        {
            uint itt = initiator.NextItt();
            itts[itt] = i;
            using Pdu command = initiator.ScsiCommand(itt, Cdb.Read10((uint)i * 8, 1), 512, read: true, write: false);
            await initiator.SendAsync(command);
        }
        var seen = new HashSet<uint>();
        var statSNs = new List<uint>();
        while (seen.Count < 32)
        {
            using Pdu pdu = await initiator.ReceiveAsync();
            Assert.Equal(Opcode.DataIn, pdu.Opcode);
            Assert.True((pdu.Flags & 0x01) != 0);
            Assert.True(seen.Add(pdu.InitiatorTaskTag));
            Assert.Equal(Pattern(512, 100 + itts[pdu.InitiatorTaskTag]), pdu.Data.ToArray());
            statSNs.Add(pdu.StatSN);
        }
        // StatSN follows the order responses were sent, without gaps.
        Assert.Equal(Enumerable.Range(0, 32).Select(i => statSNs[0] + (uint)i), statSNs);
    }

    [Fact]
    public async Task NopOutIsAnsweredWithTheSamePingData()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        using var nop = new Pdu(Opcode.NopOut, immediate: true);
        nop.InitiatorTaskTag = 0x4242;
        nop.TargetTransferTag = Pdu.ReservedTag;
        nop.CmdSN = initiator.CmdSN;
        nop.SetData("ping!"u8.ToArray());

        await initiator.SendAsync(nop);
        using Pdu answer = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.NopIn, answer.Opcode);
        Assert.Equal(0x4242u, answer.InitiatorTaskTag);
        Assert.Equal(Pdu.ReservedTag, answer.TargetTransferTag);
        Assert.Equal("ping!"u8.ToArray(), answer.Data.ToArray());
    }

    [Fact]
    public async Task TargetPingsIdleConnectionsWithNopIn()
    {
        var (running, initiator, _) = await LoggedInAsync(configure: o => o with { NopInInterval = TimeSpan.FromSeconds(1) });
        await using var __ = running;
        await using var ___ = initiator;

        using Pdu ping = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.NopIn, ping.Opcode);
        Assert.Equal(Pdu.ReservedTag, ping.InitiatorTaskTag);
        Assert.NotEqual(Pdu.ReservedTag, ping.TargetTransferTag);
        using var pong = new Pdu(Opcode.NopOut, immediate: true);
        pong.InitiatorTaskTag = Pdu.ReservedTag;
        pong.TargetTransferTag = ping.TargetTransferTag;
        pong.CmdSN = initiator.CmdSN;
        await initiator.SendAsync(pong);
        // Answering keeps the connection alive: the next ping comes instead of a close.
        using Pdu next = await initiator.ReceiveAsync();
        Assert.Equal(Opcode.NopIn, next.Opcode);
    }

    [Fact]
    public async Task UnansweredPingsDropTheConnection()
    {
        var (running, initiator, _) = await LoggedInAsync(configure: o => o with { NopInInterval = TimeSpan.FromMilliseconds(100) });
        await using var __ = running;
        await using var ___ = initiator;

        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.True(await running.EventuallyAsync(() => running.Lines.Any(l => l.Contains("did not answer NOP-In"))), running.LogText);
    }

    [Fact]
    public async Task AbortTaskEndsAWriteWaitingForDataWithFunctionComplete()
    {
        var (running, initiator, storage) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint itt = initiator.NextItt();
        using (Pdu command = initiator.ScsiCommand(itt, Cdb.Write10(0, 16), 8192, read: false, write: true))
            await initiator.SendAsync(command);
        using (Pdu r2t = await initiator.ReceiveAsync()) Assert.Equal(Opcode.ReadyToTransfer, r2t.Opcode);

        using var abort = AbortTask(initiator, referencedItt: itt, refCmdSN: 0);
        await initiator.SendAsync(abort);
        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.TaskManagementResponse, response.Opcode);
        Assert.Equal(TaskManagement.FunctionComplete, response.Response);
        Assert.True(await running.EventuallyAsync(() => running.Target.Sessions.Count == 1));
        // The session still works, and the aborted write wrote nothing.
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);
        Assert.All(storage.Bytes[..8192], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task AbortTaskOfACommandAlreadyAnsweredSaysTheTaskDoesNotExist()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint written = initiator.CmdSN;
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);

        // RefCmdSN behind ExpCmdSN: the target has seen the command and answered it.
        uint answered = initiator.NextItt() - 1; // the tag ExecuteAsync used
        using var abort = AbortTask(initiator, answered, refCmdSN: written);
        await initiator.SendAsync(abort);
        using Pdu response = await initiator.ReceiveAsync();

        // libiscsi's iSCSITMF suite checks exactly this: a task that got its response cannot also be "aborted".
        Assert.Equal(Opcode.TaskManagementResponse, response.Opcode);
        Assert.Equal(TaskManagement.TaskDoesNotExist, response.Response);
    }

    [Fact]
    public async Task AbortTaskOfACommandNotYetReceivedCountsItAsAborted()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;

        // RefCmdSN not received yet (RFC 7143 section 11.5.1 b).
        using var abort = AbortTask(initiator, referencedItt: 0x1234, refCmdSN: initiator.CmdSN);
        await initiator.SendAsync(abort);
        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(TaskManagement.FunctionComplete, response.Response);
    }

    /// <summary>An immediate ABORT TASK request for <paramref name="referencedItt"/>.</summary>
    private static Pdu AbortTask(RawInitiator initiator, uint referencedItt, uint refCmdSN)
    {
        var abort = new Pdu(Opcode.TaskManagementRequest, immediate: true);
        abort.Flags = 0x80 | 0x01; // ABORT TASK
        abort.InitiatorTaskTag = initiator.NextItt();
        abort.SetU32(20, referencedItt);
        abort.CmdSN = initiator.CmdSN;
        abort.SetU32(32, refCmdSN);
        return abort;
    }

    [Fact]
    public async Task LunResetOfAMissingLunSaysSo()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        using var reset = new Pdu(Opcode.TaskManagementRequest, immediate: true);
        reset.Flags = 0x80 | 0x05;
        reset.Lun = 3UL << 48;
        reset.InitiatorTaskTag = initiator.NextItt();
        reset.SetU32(20, Pdu.ReservedTag);
        reset.CmdSN = initiator.CmdSN;

        await initiator.SendAsync(reset);
        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(TaskManagement.LunDoesNotExist, response.Response);
        reset.Lun = 0;
        reset.InitiatorTaskTag = initiator.NextItt();
        await initiator.SendAsync(reset);
        using Pdu ok = await initiator.ReceiveAsync();
        Assert.Equal(TaskManagement.FunctionComplete, ok.Response);
    }

    [Fact]
    public async Task CommandsToAMissingLunFailWithLogicalUnitNotSupported()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;

        ScsiOutcome outcome = await initiator.ExecuteAsync(Cdb.Read10(0, 1), 512, lun: 1UL << 48);

        Assert.Equal(0x02, outcome.Status);
        Assert.Equal(0x05, outcome.SenseKey);
        Assert.Equal(0x25, outcome.Asc);
    }

    [Fact]
    public async Task UnknownOpcodeIsRejectedAndTheConnectionGoesOn()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        using var odd = new Pdu((Opcode)0x1C, immediate: true);
        odd.InitiatorTaskTag = 0x777;

        await initiator.SendAsync(odd);
        using Pdu reject = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.Reject, reject.Opcode);
        Assert.Equal(RejectReason.CommandNotSupported, reject.Response);
        Assert.Equal(Pdu.BhsLength, reject.DataSegmentLength);
        Assert.Equal(0x777u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(reject.Data.Span[16..]));
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);
    }

    [Fact]
    public async Task GarbageEndsOnlyThatConnection()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        await using var healthy = await RawInitiator.ConnectAsync(running.Port);
        healthy.Isid[5] = 9;
        await healthy.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);

        // A header announcing a 16 MiB data segment: far over the declared MaxRecvDataSegmentLength.
        var header = new byte[48];
        header[0] = 0x01;
        header[5] = 0xFF;
        header[6] = 0xFF;
        header[7] = 0xF0;
        await initiator.SendRawAsync(header);

        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.True(await running.EventuallyAsync(() => running.Target.ProtocolErrors == 1 && running.Lines.Any(l => l.Contains("protocol error"))), running.LogText);
        Assert.Equal(0, (await healthy.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);
    }

    [Fact]
    public async Task BrokenDataOutSequenceFailsTheCommandNotTheConnection()
    {
        var (running, initiator, storage) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint itt = initiator.NextItt();
        using (Pdu command = initiator.ScsiCommand(itt, Cdb.Write10(0, 2), 1024, read: false, write: true))
            await initiator.SendAsync(command);
        using Pdu r2t = await initiator.ReceiveAsync();
        Assert.Equal(Opcode.ReadyToTransfer, r2t.Opcode);

        // DataSN must start at 0 within the R2T's sequence.
        using (Pdu dataOut = RawInitiator.DataOut(itt, r2t.TargetTransferTag, 5, 0, Pattern(1024, 6), final: true))
            await initiator.SendAsync(dataOut);
        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(Opcode.ScsiResponse, response.Opcode);
        Assert.Equal(0x02, response.Status);
        Assert.Equal(0x0B, response.Data.Span[2 + 2] & 0x0F); // ABORTED COMMAND
        Assert.All(storage.Bytes[..1024], b => Assert.Equal(0, b));
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);
    }

    [Fact]
    public async Task DigestsProtectHeadersAndDataWhenNegotiated()
    {
        var keys = RawInitiator.DefaultOperationalKeys(false);
        keys.RemoveAll(k => k.Key is "HeaderDigest" or "DataDigest");
        keys.Add("HeaderDigest", "CRC32C");
        keys.Add("DataDigest", "CRC32C");
        var (running, initiator, storage) = await LoggedInAsync(keys);
        await using var __ = running;
        await using var ___ = initiator;
        Assert.True(initiator.Reader.HeaderDigest && initiator.Reader.DataDigest);
        byte[] data = Pattern(24 * 512, 7);

        Assert.Equal(0, (await initiator.WriteAsync(Cdb.Write10(10, 24), data, immediateBytes: 2048)).Status);
        ScsiOutcome read = await initiator.ExecuteAsync(Cdb.Read10(10, 24), (uint)data.Length);

        Assert.Equal(data, storage.Bytes.AsSpan(10 * 512, data.Length).ToArray());
        Assert.Equal(data, read.Data);
    }

    [Fact]
    public async Task BadHeaderDigestClosesTheConnection()
    {
        var keys = RawInitiator.DefaultOperationalKeys(false);
        keys.RemoveAll(k => k.Key == "HeaderDigest");
        keys.Add("HeaderDigest", "CRC32C");
        var (running, initiator, _) = await LoggedInAsync(keys);
        await using var __ = running;
        await using var ___ = initiator;

        initiator.Writer.HeaderDigest = false; // the target expects a digest it will not get right
        using (Pdu command = initiator.ScsiCommand(initiator.NextItt(), Cdb.TestUnitReady(), 0, read: false, write: false))
            await initiator.SendAsync(command);
        using (Pdu again = initiator.ScsiCommand(initiator.NextItt(), Cdb.TestUnitReady(), 0, read: false, write: false))
            await initiator.SendAsync(again);

        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.True(await running.EventuallyAsync(() => running.Lines.Any(l => l.Contains("digest"))), running.LogText);
    }

    [Fact]
    public async Task LogoutWaitsForRunningCommandsAndClosesTheSession()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var __ = running;
        await using var ___ = initiator;
        uint readItt = initiator.NextItt();
        using (Pdu read = initiator.ScsiCommand(readItt, Cdb.Read10(0, 8), 4096, read: true, write: false))
            await initiator.SendAsync(read);
        using var logout = new Pdu(Opcode.LogoutRequest, immediate: true);
        logout.Flags = 0x80; // close the session
        logout.InitiatorTaskTag = initiator.NextItt();
        logout.CmdSN = initiator.CmdSN;
        await initiator.SendAsync(logout);

        var opcodes = new List<Opcode>();
        while (true)
        {
            using Pdu pdu = await initiator.ReceiveAsync();
            opcodes.Add(pdu.Opcode);
            if (pdu.Opcode == Opcode.LogoutResponse)
            {
                Assert.Equal(0, pdu.Response);
                break;
            }
        }
        Assert.Equal(Opcode.DataIn, opcodes[0]);
        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 0));
    }

    [Fact]
    public async Task StoppingTheTargetClosesEverything()
    {
        var (running, initiator, _) = await LoggedInAsync();
        await using var ___ = initiator;

        await running.Target.StopAsync();

        Assert.True(await initiator.ClosedByTargetAsync());
        Assert.Equal(0, running.Target.ActiveConnections);
        await running.DisposeAsync();
    }
}
