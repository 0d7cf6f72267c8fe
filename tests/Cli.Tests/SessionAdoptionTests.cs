using IscsiUp.Cli.Sessions;
using IscsiUp.Cli.Tests.Support;
using IscsiUp.Initiator.Login;
using IscsiUp.Nbd;
using IscsiUp.Nbd.Kernel;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;

namespace IscsiUp.Cli.Tests;

/// <summary>
/// Which kernel devices a new daemon takes over from one that is gone, and what it refuses: a device whose
/// kernel state is not ours any more is left alone, and a LUN that changed is never reconnected.
/// </summary>
public sealed class SessionAdoptionTests : IDisposable
{
    private const string Target = "iqn.2026-11.org.iscsi-up.test:disk0";
    private const long Capacity = 48L << 20;
    private readonly string _root = Directory.CreateTempSubdirectory("adoption-").FullName;
    private readonly KernelNbdSysfs _sysfs;

    public SessionAdoptionTests()
    {
        _sysfs = new KernelNbdSysfs(Path.Combine(_root, "block"), Path.Combine(_root, "proc"), Path.Combine(_root, "dev"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void KernelDevice(int index, string? backend, long bytes)
    {
        string dir = Directory.CreateDirectory(Path.Combine(_root, "block", $"nbd{index}")).FullName;
        File.WriteAllText(Path.Combine(dir, "size"), $"{bytes / 512}\n");
        if (backend is not null) File.WriteAllText(Path.Combine(dir, "backend"), backend + "\n");
    }

    private static SessionRecord Left(string device, string state = SessionRecord.LoggedIn, string? serial = "SER-1") =>
        new(3, 999_999, Target, "127.0.0.1:3260", 1, 0, "iqn.2026-11.org.iscsi-up.test:client", device, Capacity, state) { Serial = serial };

    [Fact]
    public void A_device_still_connected_with_our_backend_and_size_waits_for_adoption()
    {
        KernelDevice(1, SessionAdoption.BackendId(Target, 0), Capacity);

        var crashed = SessionAdoption.Waiting(Left("/dev/nbd1"), _sysfs);
        var stopped = SessionAdoption.Waiting(Left("/dev/nbd1", SessionRecord.HandOver), _sysfs);

        Assert.Equal(SessionRecord.Orphaned, crashed?.State);
        Assert.Equal(SessionRecord.HandOver, stopped?.State);
        Assert.True(crashed!.Waiting);
    }

    [Fact]
    public void A_device_that_is_gone_reused_or_resized_is_not_ours()
    {
        KernelDevice(1, SessionAdoption.BackendId(Target, 0), Capacity);           // ours
        KernelDevice(2, null, Capacity);                                          // disconnected: no backend file
        KernelDevice(3, "rbd:pool/image", Capacity);                              // someone else's (rbd-nbd)
        KernelDevice(4, SessionAdoption.BackendId(Target, 1), Capacity);          // our target, another LUN
        KernelDevice(5, SessionAdoption.BackendId(Target, 0), Capacity * 2);      // same name, another size

        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd2"), _sysfs));
        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd3"), _sysfs));
        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd4"), _sysfs));
        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd5"), _sysfs));
        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd9"), _sysfs));          // no such device
        Assert.Null(SessionAdoption.Waiting(Left("/dev/nbd1p1"), _sysfs));        // not a whole device name
        Assert.Null(SessionAdoption.Waiting(Left("nbd+unix:///lun0?socket=/run/x.sock"), _sysfs));
        Assert.Null(SessionAdoption.Waiting(Left("-"), _sysfs));
    }

    [Fact]
    public void Of_a_session_with_several_luns_only_the_devices_still_connected_wait_and_each_is_checked_on_its_own()
    {
        KernelDevice(1, SessionAdoption.BackendId(Target, 0), Capacity);
        KernelDevice(2, SessionAdoption.BackendId(Target, 1), Capacity * 2);
        KernelDevice(3, null, Capacity); // LUN 2's device: detached when its daemon stopped (nobody used it)
        var left = Left("/dev/nbd1", SessionRecord.HandOver) with
        {
            OtherLuns = [new LunRecord(1, "/dev/nbd2", Capacity * 2) { Serial = "SER-2" }, new LunRecord(2, "/dev/nbd3", Capacity)],
        };

        var waiting = SessionAdoption.Waiting(left, _sysfs);

        Assert.Equal([(0, "/dev/nbd1"), (1, "/dev/nbd2")], waiting!.Luns.Select(l => (l.Lun, l.Device)));
        Assert.Equal(SessionRecord.HandOver, waiting.State);
        Assert.Equal("SER-2", waiting.Luns[1].Serial);
        // Only LUN 1's device left: it becomes the record's first LUN.
        Assert.Equal(1, SessionAdoption.Waiting(left with { Device = "/dev/nbd3", OtherLuns = [left.OtherLuns[0]] }, _sysfs)!.Lun);
        Assert.Null(SessionAdoption.Waiting(left with { Device = "/dev/nbd3", OtherLuns = [left.OtherLuns[1]] }, _sysfs));
    }

    [Fact]
    public void A_lun_with_another_serial_is_refused_and_a_resized_one_only_when_it_has_no_serial()
    {
        var record = Left("/dev/nbd1");

        Assert.Null(SessionAdoption.IdentityProblem(Target, record.Luns[0], "SER-1", Capacity));
        Assert.Equal($"LUN 0 of {Target} changed its serial number (\"SER-1\" -> \"SER-2\")", SessionAdoption.IdentityProblem(Target, record.Luns[0], "SER-2", Capacity));
        Assert.Equal($"LUN 0 of {Target} changed its serial number (\"SER-1\" -> none)", SessionAdoption.IdentityProblem(Target, record.Luns[0], null, Capacity));
        Assert.Null(SessionAdoption.IdentityProblem(Target, record.Luns[0], "SER-1", Capacity + 512)); // grown: the device follows
        Assert.NotNull(SessionAdoption.IdentityProblem(Target, (record with { Serial = null }).Luns[0], "SER-1", Capacity));
        Assert.Null(SessionAdoption.IdentityProblem(Target, 0, null, Capacity, null, Capacity));
        Assert.Equal($"LUN 0 of {Target} has no serial number and changed its size ({Capacity} -> {Capacity - 512} bytes)",
            SessionAdoption.IdentityProblem(Target, 0, null, Capacity, null, Capacity - 512));
    }

    [Fact]
    public void A_device_held_open_by_another_process_is_in_use_and_nbd10_is_not_nbd1()
    {
        Directory.CreateDirectory(Path.Combine(_root, "block", "nbd1", "holders"));
        string fds = Directory.CreateDirectory(Path.Combine(_root, "proc", "4242", "fd")).FullName;
        File.CreateSymbolicLink(Path.Combine(fds, "3"), Path.Combine(_root, "dev", "nbd10"));
        Assert.False(_sysfs.IsInUse(1));

        File.CreateSymbolicLink(Path.Combine(fds, "4"), Path.Combine(_root, "dev", "nbd1p2"));
        Assert.True(_sysfs.IsInUse(1));

        Directory.CreateDirectory(Path.Combine(_root, "block", "nbd7", "holders", "md0"));
        Assert.True(_sysfs.IsInUse(7)); // md or dm built on it
    }

    [Fact]
    public async Task A_mounted_block_device_is_in_use_and_an_unmounted_one_is_not()
    {
        // A real block device (a loop device standing in for /dev/nbdX, which this kernel lacks): the exclusive
        // open that a mount blocks is what tells a stopping daemon to hand the device over instead of detaching it.
        string image = Path.Combine(_root, "disk.img");
        await using (var file = File.Create(image)) file.SetLength(64L << 20);
        Assert.Equal(0, await RunAsync("mkfs.ext4", "-q", image));
        string loop = (await OutputAsync("losetup", "-f", "--show", image)).Trim();
        string mountPoint = Directory.CreateDirectory(Path.Combine(_root, "mnt")).FullName;
        Directory.CreateDirectory(Path.Combine(_root, "dev"));
        File.CreateSymbolicLink(Path.Combine(_root, "dev", "nbd8"), loop);
        try
        {
            Assert.False(_sysfs.IsInUse(8));
            Assert.Equal(0, await RunAsync("mount", loop, mountPoint));
            try { Assert.True(_sysfs.IsInUse(8)); }
            finally { await RunAsync("umount", mountPoint); }
            Assert.False(_sysfs.IsInUse(8));
        }
        finally
        {
            await RunAsync("losetup", "-d", loop);
        }
    }

    private static async Task<int> RunAsync(string program, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(program, args);
        await process.WaitForExitAsync();
        return process.ExitCode;
    }

    private static async Task<string> OutputAsync(string program, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program, args) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        string output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        return output;
    }

    [Fact]
    public async Task A_successor_refuses_a_changed_lun_and_accepts_the_same_one_up_to_the_kernel_reattach()
    {
        await using var target = await BundledTarget.StartAsync();
        var portal = Portal.Parse(target.Portal);
        var options = new LoginOptions { InitiatorName = BundledTarget.Client, TargetName = BundledTarget.TargetName };
        string serial;
        long capacity;
        await using (var probe = await RecoveringSession.LoginAsync(portal, options, new RecoveryOptions(), CancellationToken.None))
        {
            var disk = await ScsiDisk.OpenAsync(probe, 0, CancellationToken.None);
            serial = disk.SerialNumber!;
            capacity = disk.CapacityBytes;
            await probe.LogoutAsync(CancellationToken.None);
        }
        var left = new SessionRecord(7, 999_999, BundledTarget.TargetName, target.Portal, 1, 0, BundledTarget.Client, "/dev/nbd6", capacity, SessionRecord.LoggedIn)
        {
            Serial = serial,
        };
        var export = new ExportRequest(null, null, "/dev/nbd6");

        var refused = await Assert.ThrowsAsync<SessionHost.AdoptionRefusedException>(() =>
            new SessionHost(portal, options, [0], export, TextWriter.Null) { Adopting = left with { Serial = serial + "X" } }.RunAsync(null, CancellationToken.None));
        Assert.Equal($"LUN 0 of {BundledTarget.TargetName} changed its serial number (\"{serial}X\" -> \"{serial}\"): refusing to reconnect /dev/nbd6 to a different disk",
            refused.Message);
        var gone = await Assert.ThrowsAsync<SessionHost.AdoptionRefusedException>(() =>
            new SessionHost(portal, options, [5], export, TextWriter.Null) { Adopting = left with { Lun = 5 } }.RunAsync(null, CancellationToken.None));
        Assert.Equal($"{BundledTarget.TargetName} no longer reports LUN 5", gone.Message);

        // The same LUN passes the check, even grown meanwhile (the device follows once reattached), and gets as far as
        // handing the kernel a socket (no nbd on this machine). Of two LUNs, one the target no longer reports is
        // detached and the other taken over.
        foreach (var same in new[] { left, left with { CapacityBytes = capacity - 512 } })
        {
            var accepted = await Assert.ThrowsAsync<NbdUnavailableException>(() =>
                new SessionHost(portal, options, [0], export, TextWriter.Null) { Adopting = same }.RunAsync(null, CancellationToken.None));
            Assert.Contains("nbd", accepted.Message);
        }
        var said = new StringWriter();
        var withGone = left.WithLuns([left.Luns[0], new LunRecord(5, "/dev/nbd9", capacity)]);
        await Assert.ThrowsAsync<NbdUnavailableException>(() =>
            new SessionHost(portal, options, [0, 5], export, said) { Adopting = withGone }.RunAsync(null, CancellationToken.None));
        Assert.Equal("iscsi-up: LUN 5 was removed by the target while no daemon served it: /dev/nbd9 is detached (its I/O fails)",
            said.ToString().Split('\n')[0]);
        await Wait.UntilAsync(() => target.Target.ActiveSessions == 0, "the refused and failed takeovers to leave no session on the target");
    }

    [Fact]
    public async Task A_successor_checks_every_lun_of_a_session_with_several_and_refuses_when_one_changed()
    {
        await using var tgtd = await IscsiUp.Initiator.Tests.Peers.TgtdTarget.StartAsync(new() { Size = 8L << 20, MoreLunSizes = [4L << 20] });
        var options = tgtd.LoginOptions();
        var luns = new List<LunRecord>();
        await using (var probe = await RecoveringSession.LoginAsync(tgtd.Portal, options, new RecoveryOptions(), CancellationToken.None))
        {
            foreach (int lun in new[] { 1, 2 })
            {
                var disk = await ScsiDisk.OpenAsync(probe, lun, CancellationToken.None);
                luns.Add(new LunRecord(lun, $"/dev/nbd{5 + lun}", disk.CapacityBytes) { Serial = disk.SerialNumber, Identifier = disk.Identifier?.ToString() });
            }
            await probe.LogoutAsync(CancellationToken.None);
        }
        var left = new SessionRecord(7, 999_999, tgtd.TargetName, tgtd.Portal.ToString(), 1, 0, options.InitiatorName, "-", 0, SessionRecord.HandOver).WithLuns(luns);
        var export = new ExportRequest(null, null, "/dev/nbd6");
        var changed = left.WithLuns([luns[0], luns[1] with { Serial = luns[1].Serial + "X" }]);

        var refused = await Assert.ThrowsAsync<SessionHost.AdoptionRefusedException>(() =>
            new SessionHost(tgtd.Portal, options, [1, 2], export, TextWriter.Null) { Adopting = changed }.RunAsync(null, CancellationToken.None));
        Assert.Equal($"LUN 2 of {tgtd.TargetName} changed its serial number (\"{luns[1].Serial}X\" -> \"{luns[1].Serial}\"): refusing to reconnect /dev/nbd7 to a different disk",
            refused.Message);
        // Both the same: the takeover gets as far as handing the kernel a socket (no nbd on this machine).
        await Assert.ThrowsAsync<NbdUnavailableException>(() =>
            new SessionHost(tgtd.Portal, options, [1, 2], export, TextWriter.Null) { Adopting = left }.RunAsync(null, CancellationToken.None));
    }
}
