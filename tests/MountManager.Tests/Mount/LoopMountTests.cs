using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Mount;
using IscsiUp.MountManager.Tests.Support;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Tests.Mount;

/// <summary>
/// The whole flow for real: a loop device over a sparse image, mkfs.xfs, mount, an fstab line checked
/// by the real findmnt --verify, umount. Needs root and loop devices (checked, with a clear message);
/// /dev/nbd is left to the kernel lab.
/// </summary>
public sealed class LoopMountTests : IDisposable
{
    private const string Original = "# iscsi-up loop test\n\ttmpfs\t/run/iscsi-up-test-none\ttmpfs\tnoauto\t0\t0\n";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Formats_mounts_records_unmounts_and_remounts_a_loop_device()
    {
        Assert.True(Environment.IsPrivilegedProcess && File.Exists("/dev/loop-control"),
            "precondition: this test attaches a loop device and mounts it, so it must run as root on a kernel with loop support");
        DiskImages.RequireTools("losetup", "mount", "umount", "findmnt", "blkid", "mkfs.xfs");

        var image = DiskImages.CreateBlank(_dir);
        var fstab = _dir.WriteText("fstab", Original);
        var mountpoint = _dir.Combine("mnt point");
        var attach = await CliCommandRunner.Instance.RunAsync("losetup", ["-f", "--show", image], TimeSpan.FromSeconds(30));
        Assert.True(attach.ExitCode == 0, $"precondition: losetup -f --show failed: {attach.FirstErrorLine}");
        var loop = attach.StandardOutput.Trim();
        var progress = new List<string>();
        var service = new MountService(progress: progress.Add);
        var mounter = new Mounter();
        try
        {
            var mounted = await service.MountAsync(loop, mountpoint, fstabPath: fstab);

            Assert.True(mounted.Formatted);
            Assert.True(mounted.DirectoryCreated);
            Assert.Contains(mounted.Method, new[] { MountMethod.ByUuid, MountMethod.ByDevicePath });
            Assert.Equal(Original + $"UUID={mounted.Uuid} {mountpoint.Replace(" ", "\\040")} xfs defaults,_netdev 0 0\n", File.ReadAllText(fstab));
            var seen = await mounter.FindMountAsync(mountpoint);
            Assert.NotNull(seen);
            Assert.Equal(("xfs", mountpoint), (seen.FsType, seen.Target));
            File.WriteAllText(Path.Combine(mountpoint, "hello.txt"), "kept across mounts");

            var again = await service.MountAsync(loop, mountpoint, fstabPath: fstab);
            Assert.Equal((false, MountMethod.AlreadyMounted, FstabChange.AlreadyPresent), (again.Formatted, again.Method, again.Fstab.Change));

            var unmounted = await service.UnmountAsync(mountpoint, removeFstab: true, fstabPath: fstab);
            Assert.True(unmounted.WasMounted);
            Assert.Equal(mounted.Uuid, unmounted.Uuid);
            Assert.Equal(Original, File.ReadAllText(fstab));
            Assert.Null(await mounter.FindMountAsync(mountpoint));

            var remounted = await service.MountAsync(loop, mountpoint, "xfs", fstabPath: fstab);
            Assert.False(remounted.Formatted);
            Assert.Equal(mounted.Uuid, remounted.Uuid);
            Assert.Equal("kept across mounts", File.ReadAllText(Path.Combine(mountpoint, "hello.txt")));
            await service.UnmountAsync(mountpoint, removeFstab: true, fstabPath: fstab);
            Assert.Equal(Original, File.ReadAllText(fstab));
        }
        finally
        {
            if (await mounter.FindMountAsync(mountpoint) is not null)
                await CliCommandRunner.Instance.RunAsync("umount", [mountpoint], TimeSpan.FromMinutes(1));
            await CliCommandRunner.Instance.RunAsync("losetup", ["-d", loop], TimeSpan.FromSeconds(30));
        }
    }
}
