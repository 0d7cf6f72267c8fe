using System.Buffers.Binary;
using IscsiUp.TestTarget.Control;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>
/// LUNs added, removed and grown while an initiator is logged in, the way a real array reports it: REPORTED LUNS DATA
/// HAS CHANGED (3Fh/0Eh) and CAPACITY DATA HAS CHANGED (2Ah/09h) unit attentions, once per session, and the control
/// commands that make the change answer in one line.
/// </summary>
public sealed class LunChangeTests
{
    private const byte CheckCondition = 0x02;
    private const byte UnitAttention = 0x06;
    private const byte IllegalRequest = 0x05;
    private const long Size = 4L << 20;

    private static ulong LunField(int lun) => (ulong)lun << 48; // flat peripheral addressing, LUN < 256

    /// <summary>A running target with its control inventory and one logged-in initiator, disposed together.</summary>
    private sealed record LoggedIn(RunningTarget Running, LunInventory Inventory, RawInitiator Initiator) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Initiator.DisposeAsync();
            Inventory.Dispose();
            await Running.DisposeAsync();
        }
    }

    private static async Task<LoggedIn> StartAsync()
    {
        var running = await TestTargets.StartAsync(new MemoryVolume(Size));
        var inventory = new LunInventory(running.Target, null, []);
        var initiator = await RawInitiator.ConnectAsync(running.Port);
        await initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);
        return new LoggedIn(running, inventory, initiator);
    }

    private static byte[] ReportLuns()
    {
        var cdb = new byte[12];
        cdb[0] = 0xA0;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(6), 4096);
        return cdb;
    }

    private static int[] LunsIn(byte[] reportLunsData)
    {
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(reportLunsData);
        return [.. Enumerable.Range(0, length / 8).Select(i => (int)(BinaryPrimitives.ReadUInt64BigEndian(reportLunsData.AsSpan(8 + i * 8)) >> 48) & 0x3FFF)];
    }

    private static byte[] ReadCapacity16()
    {
        var cdb = new byte[16];
        cdb[0] = 0x9E;
        cdb[1] = 0x10;
        BinaryPrimitives.WriteUInt32BigEndian(cdb.AsSpan(10), 32);
        return cdb;
    }

    private static void AssertUnitAttention(ScsiOutcome outcome, byte asc, byte ascq)
    {
        Assert.Equal(CheckCondition, outcome.Status);
        Assert.Equal(UnitAttention, outcome.SenseKey);
        Assert.Equal((asc, ascq), (outcome.Asc, outcome.Sense[13]));
    }

    [Fact]
    public async Task An_added_lun_is_reported_once_on_the_others_and_REPORT_LUNS_lists_it()
    {
        await using var target = await StartAsync();
        var (running, inventory, initiator) = target;
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);

        Assert.Equal("ok LUN 1 added, 8.0 MiB", inventory.Execute("add 1 8M"));

        AssertUnitAttention(await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false), 0x3F, 0x0E);
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status); // reported once
        ScsiOutcome report = await initiator.ExecuteAsync(ReportLuns(), 4096);
        Assert.Equal(0, report.Status);
        Assert.Equal([0, 1], LunsIn(report.Data));
        // The new LUN answers at once, with its own size and zeroed contents.
        ScsiOutcome capacity = await initiator.ExecuteAsync(ReadCapacity16(), 32, lun: LunField(1));
        Assert.Equal(0, capacity.Status);
        Assert.Equal((8L << 20) / 512 - 1, (long)BinaryPrimitives.ReadUInt64BigEndian(capacity.Data));
        ScsiOutcome read = await initiator.ExecuteAsync(Cdb.Read10(0, 1), 512, lun: LunField(1));
        Assert.Equal(new byte[512], read.Data);
        Assert.Contains("LUN 1 added (8388608 bytes)", running.LogText);
    }

    [Fact]
    public async Task REPORT_LUNS_clears_the_pending_change_on_every_lun()
    {
        await using var target = await StartAsync();
        var (running, inventory, initiator) = target;
        inventory.Execute("add 1 4M");
        inventory.Execute("add 2 4M"); // raises the change on LUN 1 as well; the condition is queued once per LUN

        int[] listed = LunsIn((await initiator.ExecuteAsync(ReportLuns(), 4096)).Data);
        Assert.Equal([0, 1, 2], listed);

        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status);
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false, lun: LunField(1))).Status);
    }

    [Fact]
    public async Task A_removed_lun_fails_its_commands_cleanly_and_the_others_see_the_change()
    {
        await using var target = await StartAsync();
        var (running, inventory, initiator) = target;
        inventory.Execute("add 1 4M");
        await initiator.ExecuteAsync(ReportLuns(), 4096);

        Assert.Equal("ok LUN 1 removed", inventory.Execute("remove 1"));

        ScsiOutcome gone = await initiator.ExecuteAsync(Cdb.Read10(0, 1), 512, lun: LunField(1));
        Assert.Equal(CheckCondition, gone.Status);
        Assert.Equal(IllegalRequest, gone.SenseKey);
        Assert.Equal(0x25, gone.Asc); // LOGICAL UNIT NOT SUPPORTED
        AssertUnitAttention(await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false), 0x3F, 0x0E);
        int[] left = LunsIn((await initiator.ExecuteAsync(ReportLuns(), 4096)).Data);
        Assert.Equal([0], left);
    }

    [Fact]
    public async Task A_grown_lun_reports_its_capacity_change_to_itself_only_and_keeps_its_data()
    {
        await using var target = await StartAsync();
        var (running, inventory, initiator) = target;
        inventory.Execute("add 1 4M");
        await initiator.ExecuteAsync(ReportLuns(), 4096);
        var block = new byte[512];
        Random.Shared.NextBytes(block);
        ScsiOutcome written = await initiator.WriteAsync(Cdb.Write10(100, 1), block, immediateBytes: 512, lun: LunField(1));
        Assert.Equal(0, written.Status);

        Assert.Equal("ok LUN 1 resized to 12.0 MiB", inventory.Execute("resize 1 12M"));

        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false)).Status); // LUN 0 is not told
        AssertUnitAttention(await initiator.ExecuteAsync(Cdb.TestUnitReady(), 0, read: false, lun: LunField(1)), 0x2A, 0x09);
        ScsiOutcome capacity = await initiator.ExecuteAsync(ReadCapacity16(), 32, lun: LunField(1));
        Assert.Equal((12L << 20) / 512 - 1, (long)BinaryPrimitives.ReadUInt64BigEndian(capacity.Data));
        Assert.Equal(block, (await initiator.ExecuteAsync(Cdb.Read10(100, 1), 512, lun: LunField(1))).Data);
        Assert.Equal(0, (await initiator.ExecuteAsync(Cdb.Read10((12u << 20) / 512 - 1, 1), 512, lun: LunField(1))).Status);
    }

    [Fact]
    public async Task Wrong_control_commands_get_a_one_line_error_and_change_nothing()
    {
        await using var target = await StartAsync();
        var (running, inventory, initiator) = target;
        inventory.Execute("add 1 4M");

        Assert.Equal("error: LUN 1 exists", inventory.Execute("add 1 4M"));
        Assert.Equal("error: there is no LUN 9", inventory.Execute("remove 9"));
        Assert.StartsWith("error: ", inventory.Execute("resize 1 2M")); // shrinking would lose data
        Assert.StartsWith("error: ", inventory.Execute("add x 4M"));
        Assert.StartsWith("error: ", inventory.Execute("add 2 lots"));
        Assert.StartsWith("error: unknown command \"format 1\"", inventory.Execute("format 1"));
        Assert.Equal($"ok 0:{Size} 1:{4L << 20}", inventory.Execute("list"));
        Assert.All(inventory.Execute("list").Split('\n'), line => Assert.DoesNotContain("\n", line));
    }
}
