using System.Text.RegularExpressions;
using IscsiUp.TestTarget.Storage;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>
/// A real, independent initiator against the in-process target: libiscsi's command-line tools (Debian package
/// libiscsi-bin). A missing tool fails the test with an install hint rather than skipping it.
/// </summary>
public sealed class LibiscsiToolTests
{
    private const string Package = "libiscsi-bin";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private const long DiskSize = 16 << 20; // each member: 3 x 16 MiB -> 32 MiB usable

    private static async Task<(RunningTarget Running, Raid5Array Array)> StartRaidTargetAsync()
    {
        var array = Raid5Array.CreateInMemory(3, 1, DiskSize);
        var running = await TestTargets.StartAsync(array, o => o with { Acl = [TestTargets.InitiatorName] });
        return (running, array);
    }

    private static string Url(RunningTarget running, int lun = 0) => $"iscsi://127.0.0.1:{running.Port}/{TestTargets.TargetName}/{lun}";

    private static Task<ProcessResult> ToolAsync(string tool, params string[] arguments) =>
        ProcessRunner.RunAsync(ProcessRunner.Require(tool, Package), arguments, ToolTimeout);

    [Fact]
    public async Task IscsiLsListsTheTargetAndLun0()
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult result = await ToolAsync("iscsi-ls", "-i", TestTargets.InitiatorName, "-s", $"iscsi://127.0.0.1:{running.Port}");

        Assert.True(result.ExitCode == 0, result.Output + "\n" + running.LogText);
        Assert.Contains($"Target:{TestTargets.TargetName} Portal:127.0.0.1:{running.Port},1", result.Stdout);
        Assert.Matches(new Regex(@"Lun:0\s+Type:DIRECT_ACCESS"), result.Stdout);
    }

    [Fact]
    public async Task IscsiInqShowsVendorAndProduct()
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult standard = await ToolAsync("iscsi-inq", "-i", TestTargets.InitiatorName, Url(running));
        // iscsi-inq reads the page code in decimal: 128 = 0x80 unit serial number, 176 = 0xB0 block limits.
        ProcessResult serial = await ToolAsync("iscsi-inq", "-i", TestTargets.InitiatorName, "-e", "1", "-c", "128", Url(running));
        ProcessResult limits = await ToolAsync("iscsi-inq", "-i", TestTargets.InitiatorName, "-e", "1", "-c", "176", Url(running));

        Assert.True(standard.ExitCode == 0, standard.Output);
        Assert.Contains("Vendor:ISCSIUP", standard.Stdout);
        Assert.Contains("Product:RAID5 TESTDISK", standard.Stdout);
        Assert.Contains("Peripheral Device Type:DIRECT_ACCESS", standard.Stdout);
        Assert.True(serial.ExitCode == 0, serial.Output);
        Assert.Contains($"Unit Serial Number:[{IscsiUp.TestTarget.Scsi.DeviceIdentity.For(TestTargets.TargetName, 0).SerialNumber}]", serial.Stdout);
        Assert.True(limits.ExitCode == 0, limits.Output);
        Assert.Contains("maximum transfer length:8192", limits.Stdout);
        Assert.Contains("maximum unmap lba count:131072", limits.Stdout);
    }

    [Fact]
    public async Task IscsiReadCapacity16ShowsTheArraySize()
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult result = await ToolAsync("iscsi-readcapacity16", "-i", TestTargets.InitiatorName, Url(running));

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(2 * DiskSize, array.Capacity);
        Assert.Contains($"RETURNED LOGICAL BLOCK ADDRESS:{array.Capacity / 512 - 1}", result.Stdout);
        Assert.Contains("LOGICAL BLOCK LENGTH IN BYTES:512", result.Stdout);
        Assert.Contains($"Total size:{array.Capacity}", result.Stdout);
        Assert.Contains("LBPME:1", result.Stdout);
    }

    [Fact]
    public async Task UnlistedInitiatorNameMakesTheToolsFail()
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult result = await ToolAsync("iscsi-inq", "-i", "iqn.2025-01.org.iscsi-up:stranger", Url(running));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("ogin", result.Stdout + result.Stderr); // "Login failed" / "login"
        Assert.True(await running.EventuallyAsync(() => running.Target.LoginFailures >= 1 && running.Lines.Any(l => l.Contains("0x0202"))), running.LogText);
    }

    [Fact]
    public async Task ChapCredentialsInTheUrlAreChecked()
    {
        using var array = Raid5Array.CreateInMemory(3, 0, 1 << 20);
        await using var running = await TestTargets.StartAsync(array,
            o => o with { Chap = new IscsiUp.TestTarget.Target.TargetChap("bob", "secretsecret12"u8.ToArray()) });
        string good = $"iscsi://bob%secretsecret12@127.0.0.1:{running.Port}/{TestTargets.TargetName}/0";
        string bad = $"iscsi://bob%guessing@127.0.0.1:{running.Port}/{TestTargets.TargetName}/0";

        ProcessResult accepted = await ToolAsync("iscsi-readcapacity16", "-i", TestTargets.InitiatorName, good);
        ProcessResult refused = await ToolAsync("iscsi-readcapacity16", "-i", TestTargets.InitiatorName, bad);

        Assert.True(accepted.ExitCode == 0, accepted.Output + "\n" + running.LogText);
        Assert.Contains($"Total size:{array.Capacity}", accepted.Stdout);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("Authentication failure", refused.Stdout + refused.Stderr);
    }

    [Fact]
    public async Task IscsiPerfDrivesManyConcurrentReads()
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult result = await ToolAsync("iscsi-perf", "-i", TestTargets.InitiatorName, "-t", "2", "-b", "8", Url(running));

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("iops average", result.Stdout + result.Stderr);
        Assert.True(running.Target.CommandsCompleted > 100, $"only {running.Target.CommandsCompleted} commands");
        Assert.Equal(0, running.Target.ProtocolErrors);
    }

    /// <summary>
    /// Suites of libiscsi's conformance tool (iscsi-test-cu): they write patterns and read them back, probe bad CDBs,
    /// residuals, CmdSN and DataSN rules, and task management.
    /// </summary>
    [Theory]
    [InlineData("SCSI.TestUnitReady")]
    [InlineData("SCSI.Inquiry")]
    [InlineData("SCSI.ReadCapacity10")]
    [InlineData("SCSI.ReadCapacity16")]
    [InlineData("SCSI.Read10")]
    [InlineData("SCSI.Read16")]
    [InlineData("SCSI.Write10")]
    [InlineData("SCSI.Write16")]
    [InlineData("SCSI.Read6")]
    [InlineData("SCSI.Read12")]
    [InlineData("SCSI.Write12")]
    [InlineData("SCSI.Verify10")]
    [InlineData("SCSI.Verify12")]
    [InlineData("SCSI.Verify16")]
    [InlineData("SCSI.Unmap")]
    [InlineData("SCSI.WriteSame10")]
    [InlineData("SCSI.ModeSense6")]
    [InlineData("iSCSI.iSCSIResiduals")]
    [InlineData("iSCSI.iSCSIcmdsn")]
    [InlineData("iSCSI.iSCSIdatasn")]
    [InlineData("iSCSI.iSCSITMF")]
    public async Task ConformanceSuitePasses(string suite)
    {
        var (running, array) = await StartRaidTargetAsync();
        await using var _ = running;
        using var __ = array;

        ProcessResult result = await ToolAsync("iscsi-test-cu", "--dataloss", "--silent", "-i", TestTargets.InitiatorName, "-t", suite, Url(running));

        Match summary = Regex.Match(result.Stdout, @"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)");
        Assert.True(summary.Success, result.Output);
        Assert.True(summary.Groups[4].Value == "0" && result.ExitCode == 0, $"{suite} failed:\n{result.Output}\n{running.LogText}");
        Assert.True(int.Parse(summary.Groups[3].Value) > 0, "no test of the suite passed");
        Assert.Equal(RaidState.Clean, array.State);
        Assert.True(array.CheckParity().IsClean, "the writes left the RAID-5 parity inconsistent");
    }
}
