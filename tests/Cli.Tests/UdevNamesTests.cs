using IscsiUp.Cli.Sessions;
using IscsiUp.Cli.Tests.Support;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// The udev properties of our devices: the by-path and by-id names open-iscsi users know (checked against
/// open-iscsi's own /dev/sdX for the same LUN in the kernel lab, rpm-systemd).
/// </summary>
public sealed class UdevNamesTests
{
    private const string Target = "iqn.2026-11.org.iscsi-up.test:disk0";

    private static SessionRecord Record(string portal, string? identifier) =>
        new(4, Environment.ProcessId, Target, portal, 1, 2, "iqn.2026-11.org.iscsi-up.test:client", "/dev/nbd3", 1L << 30, SessionRecord.LoggedIn)
        { Identifier = identifier };

    [Fact]
    public void An_NAA_6_LUN_gets_path_id_and_scsi_id_properties_as_an_sd_device_would()
    {
        Assert.Equal(
        [
            "ISCSI_UP_SESSION=4", $"ISCSI_UP_TARGET={Target}", "ISCSI_UP_LUN=2",
            $"ID_PATH=ip-127.0.0.1:3260-iscsi-{Target}-lun-2",
            "ID_SERIAL=36001405a1b2c3d4e5f60718293a4b5c6", "ID_SERIAL_SHORT=6001405a1b2c3d4e5f60718293a4b5c6",
            "ID_WWN=0x6001405a1b2c3d4e", "ID_WWN_WITH_EXTENSION=0x6001405a1b2c3d4e5f60718293a4b5c6",
        ], UdevNames.Properties(Record("127.0.0.1:3260", "naa:6001405a1b2c3d4e5f60718293a4b5c6"), Record("127.0.0.1:3260", "naa:6001405a1b2c3d4e5f60718293a4b5c6").Luns[0]));
    }

    [Fact]
    public void An_IPv6_portal_is_written_without_brackets_and_a_LUN_without_a_name_gets_only_by_path()
    {
        Assert.Equal(
        [
            "ISCSI_UP_SESSION=4", $"ISCSI_UP_TARGET={Target}", "ISCSI_UP_LUN=2", $"ID_PATH=ip-::1:3260-iscsi-{Target}-lun-2",
        ], UdevNames.Properties(Record("[::1]:3260", null), Record("[::1]:3260", null).Luns[0]));
    }

    [Fact]
    public void Each_lun_of_a_session_gets_its_own_lun_number_in_by_path_and_its_own_name()
    {
        var second = new LunRecord(5, "/dev/nbd4", 1L << 30) { Identifier = "naa:60014050000000000000000000000005" };
        var record = Record("127.0.0.1:3260", "naa:6001405a1b2c3d4e5f60718293a4b5c6") with { OtherLuns = [second] };

        var lines = UdevNames.Properties(record, second);

        Assert.Contains("ISCSI_UP_LUN=5", lines);
        Assert.Contains($"ID_PATH=ip-127.0.0.1:3260-iscsi-{Target}-lun-5", lines);
        Assert.Contains("ID_SERIAL=360014050000000000000000000000005", lines);
        Assert.DoesNotContain(lines, l => l.Contains("a1b2c3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_session_record_with_several_luns_is_read_and_listed_a_line_per_lun_and_an_old_one_has_one()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(Path.Combine(cli.RunDir, "sessions"));
        string file = Path.Combine(cli.RunDir, "sessions", "4.session");
        File.WriteAllText(file, $"id=4\npid={Environment.ProcessId}\ntarget={Target}\nportal=127.0.0.1:3260\ntpgt=1\nlun=2\ninitiator=x\ndevice=/dev/nbd3\n" +
                                "capacity=1048576\nstate=LOGGED_IN\nserial=S2\nother_luns=5\nlun5.device=/dev/nbd4\nlun5.capacity=2097152\n" +
                                "lun5.serial=S5\nlun5.identifier=eui:0011223344556677\n");
        string old = Path.Combine(cli.RunDir, "9.session");
        File.WriteAllText(old, $"id=9\npid=1\ntarget={Target}\nportal=127.0.0.1:3260\ntpgt=1\nlun=2\ninitiator=x\ndevice=/dev/nbd3\ncapacity=1\nstate=LOGGED_IN\n");

        Assert.Equal(
            [new LunRecord(2, "/dev/nbd3", 1048576) { Serial = "S2" }, new LunRecord(5, "/dev/nbd4", 2097152) { Serial = "S5", Identifier = "eui:0011223344556677" }],
            SessionRecord.Load(file)!.Luns.ToArray());
        Assert.Equal(new LunRecord(2, "/dev/nbd3", 1), Assert.Single(SessionRecord.Load(old)!.Luns));
        var listed = await cli.RunAsync("session");
        File.Delete(file); // its pid is this test's: CliRun would stop it
        Assert.Equal($"[4] 127.0.0.1:3260,1 {Target} lun 2 /dev/nbd3 1 MiB LOGGED_IN\n[4] 127.0.0.1:3260,1 {Target} lun 5 /dev/nbd4 2 MiB LOGGED_IN\n", listed.Stdout);
    }

    [Fact]
    public void A_session_record_carries_the_identifier()
    {
        using var cli = new CliRun();
        Directory.CreateDirectory(cli.RunDir);
        string file = Path.Combine(cli.RunDir, "4.session");
        File.WriteAllText(file, $"id=4\npid=1\ntarget={Target}\nportal=127.0.0.1:3260\ntpgt=1\nlun=2\ninitiator=x\ndevice=/dev/nbd3\n" +
                                "capacity=1\nstate=LOGGED_IN\nidentifier=naa:5000c50012345678\n");
        Assert.Equal("naa:5000c50012345678", SessionRecord.Load(file)!.Identifier);
    }

    [Fact]
    public async Task udev_id_prints_nothing_for_an_nbd_device_that_is_not_ours()
    {
        using var cli = new CliRun();
        var result = await cli.RunAsync("udev-id", "nbd1000");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Stdout + result.Stderr);
        Assert.DoesNotContain("udev-id", (await cli.RunAsync("--help")).Stdout); // for udev, not for people
    }
}
