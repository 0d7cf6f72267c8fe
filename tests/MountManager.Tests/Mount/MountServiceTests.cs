using System.Text;
using IscsiUp.MountManager.Format;
using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Mount;
using IscsiUp.MountManager.Tests.Fstab;
using IscsiUp.MountManager.Tests.Support;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Tests.Mount;

/// <summary>The composed flow against a scripted system: what runs, in which order, and what is left behind on failure.</summary>
public sealed class MountServiceTests : IDisposable
{
    private const string Original = "# fstab\nproc /proc proc defaults 0 0\n";

    private readonly TempDirectory _dir = new();
    private readonly FakeSystem _system = new();
    private readonly List<string> _progress = [];
    private readonly string _device;
    private readonly string _fstab;
    private readonly string _byUuid;
    private readonly string _mountpoint;

    public MountServiceTests()
    {
        _device = _dir.WriteText("nbd0", "");
        _fstab = _dir.WriteText("fstab", Original);
        _byUuid = _dir.Combine("by-uuid");
        Directory.CreateDirectory(_byUuid);
        _mountpoint = _dir.Combine("iscsi");
    }

    public void Dispose() => _dir.Dispose();

    private MountService Service(IFstabValidator? validator = null) =>
        new(_system, fstabValidator: validator ?? NoFstabValidation.Instance, byUuidDirectory: _byUuid, progress: _progress.Add);

    private string FstabText => File.ReadAllText(_fstab);

    private void GiveDevice(string type, string uuid) => _system.Devices[_device] = new FakeSystem.Device { Type = type, Uuid = uuid };

    [Fact]
    public async Task A_blank_device_is_formatted_mounted_and_recorded_in_that_order()
    {
        var outcome = await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);

        Assert.True(outcome.Formatted);
        Assert.Equal("xfs", outcome.FsType);
        Assert.Equal(_system.Devices[_device].Uuid, outcome.Uuid);
        Assert.Equal(MountMethod.ByDevicePath, outcome.Method);
        Assert.True(outcome.DirectoryCreated);
        Assert.True(outcome.FstabChanged);
        Assert.Equal(Original + $"UUID={outcome.Uuid} {_mountpoint} xfs defaults,_netdev 0 0\n", FstabText);
        Assert.Equal(
            [
                $"blkid -p -o export {_device}",
                $"findmnt -J -o SOURCE,TARGET,FSTYPE,UUID --source {_device}",
                $"blkid -p -o export {_device}",
                $"mkfs.xfs {_device}",
                $"blkid -p -o export {_device}",
                "udevadm settle --timeout=10",
                $"mount -t xfs {_device} {_mountpoint}",
                $"findmnt -J -o SOURCE,TARGET,FSTYPE,UUID --mountpoint {_mountpoint}",
            ],
            _system.Calls);
        Assert.Contains($"mounted {_device} on {_mountpoint} by device path (no {_byUuid}/{outcome.Uuid} link)", _progress);
        Assert.Contains("writing superblocks", _progress);
    }

    [Fact]
    public async Task With_a_by_uuid_link_it_mounts_by_uuid()
    {
        const string Uuid = Fixtures.Uuid;
        GiveDevice("ext4", Uuid);
        File.WriteAllText(Path.Combine(_byUuid, Uuid), "");

        var outcome = await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);

        Assert.False(outcome.Formatted);
        Assert.Equal(MountMethod.ByUuid, outcome.Method);
        Assert.Equal("ext4", outcome.FsType);
        Assert.Contains($"mount -t ext4 UUID={Uuid} {_mountpoint}", _system.Calls);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("mkfs", StringComparison.Ordinal));
        Assert.Equal(Original + $"UUID={Uuid} {_mountpoint} ext4 defaults,_netdev 0 0\n", FstabText);
    }

    [Fact]
    public async Task Running_it_again_changes_nothing()
    {
        var first = await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);
        var fstabBytes = File.ReadAllBytes(_fstab);
        _system.Calls.Clear();

        var second = await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);

        Assert.False(second.Formatted);
        Assert.Equal(MountMethod.AlreadyMounted, second.Method);
        Assert.Equal(FstabChange.AlreadyPresent, second.Fstab.Change);
        Assert.Equal(first.Uuid, second.Uuid);
        Assert.Equal(fstabBytes, File.ReadAllBytes(_fstab));
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("mount ", StringComparison.Ordinal) || call.StartsWith("mkfs", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failed_mount_leaves_fstab_unchanged_and_removes_the_directory_it_made()
    {
        _system.Override = (tool, _) => tool == "mount"
            ? new CommandResult(32, "", $"mount: {_mountpoint}: wrong fs type, bad option, bad superblock on {_device}.\n")
            : null;

        var error = await Assert.ThrowsAsync<MountFailedException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal(
            $"mount -t xfs {_device} {_mountpoint} failed: mount: {_mountpoint}: wrong fs type, bad option, bad superblock on {_device}.",
            error.Message);
        Assert.Equal(Original, FstabText);
        Assert.False(File.Exists(_fstab + FstabEditor.BackupSuffix));
        Assert.False(Directory.Exists(_mountpoint));
    }

    [Fact]
    public async Task A_failed_fstab_write_unmounts_again()
    {
        var validator = new RecordingValidator(path => path == _fstab
            ? FstabVerification.Clean
            : new FstabVerification([$"{_mountpoint}: unreachable on boot required source: UUID=x"]));

        var error = await Assert.ThrowsAsync<FstabVerificationException>(() => Service(validator).MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.StartsWith("findmnt --verify rejects the edited", error.Message);
        Assert.Equal(Original, FstabText);
        Assert.Equal($"umount {_mountpoint}", _system.Calls[^1]);
        Assert.Empty(_system.Mounts);
        Assert.False(Directory.Exists(_mountpoint));
    }

    [Fact]
    public async Task When_undoing_the_mount_fails_too_the_message_says_so()
    {
        var validator = new RecordingValidator(path => path == _fstab ? FstabVerification.Clean : new FstabVerification(["x: broken"]));
        _system.Override = (tool, _) => tool == "umount" ? new CommandResult(32, "", $"umount: {_mountpoint}: target is busy.\n") : null;

        var error = await Assert.ThrowsAsync<MountManagerException>(() => Service(validator).MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal(
            $"findmnt --verify rejects the edited {_fstab}: x: broken; {_fstab} was left unchanged " +
            $"(and {_mountpoint} stays mounted: umount {_mountpoint} failed: umount: {_mountpoint}: target is busy.)",
            error.Message);
    }

    [Fact]
    public async Task An_fstab_conflict_is_found_before_formatting()
    {
        File.AppendAllText(_fstab, $"/dev/sdb1 {_mountpoint} ext4 defaults 0 0\n");

        var error = await Assert.ThrowsAsync<FstabConflictException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_fstab} line 3 already mounts /dev/sdb1 on {_mountpoint}; pass --replace to replace that line", error.Message);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("mkfs", StringComparison.Ordinal) || call.StartsWith("mount ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Replace_takes_over_the_conflicting_line()
    {
        File.AppendAllText(_fstab, $"/dev/sdb1 {_mountpoint} ext4 defaults 0 0\n# end\n");

        var outcome = await Service().MountAsync(_device, _mountpoint, replace: true, fstabPath: _fstab);

        Assert.Equal(FstabChange.Replaced, outcome.Fstab.Change);
        Assert.Equal(Original + $"UUID={outcome.Uuid} {_mountpoint} xfs defaults,_netdev 0 0\n# end\n", FstabText);
    }

    [Fact]
    public async Task A_non_empty_directory_is_refused_before_formatting()
    {
        Directory.CreateDirectory(_mountpoint);
        File.WriteAllText(Path.Combine(_mountpoint, "precious.txt"), "data");

        var error = await Assert.ThrowsAsync<MountpointNotUsableException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_mountpoint} is not empty; refusing to mount over the files in it", error.Message);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("mkfs", StringComparison.Ordinal));
        Assert.Equal(Original, FstabText);
    }

    [Fact]
    public async Task A_directory_that_is_already_a_mount_point_is_refused()
    {
        Directory.CreateDirectory(_mountpoint);
        _system.Mounts.Add(new MountedFilesystem("/dev/sdb1", _mountpoint, "ext4", null));

        var error = await Assert.ThrowsAsync<MountpointNotUsableException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_mountpoint} is already a mount point (/dev/sdb1, ext4); unmount it first or choose another directory", error.Message);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("mkfs", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_in_place_of_the_directory_is_refused()
    {
        File.WriteAllText(_mountpoint, "");

        var error = await Assert.ThrowsAsync<MountpointNotUsableException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_mountpoint} exists and is not a directory", error.Message);
    }

    [Fact]
    public async Task A_device_mounted_elsewhere_is_refused()
    {
        GiveDevice("xfs", Fixtures.Uuid);
        _system.Mounts.Add(new MountedFilesystem(_device, "/data", "xfs", Fixtures.Uuid));

        var error = await Assert.ThrowsAsync<DeviceInUseException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_device} is mounted on /data; unmount it there before mounting it on {_mountpoint}", error.Message);
    }

    [Fact]
    public async Task An_existing_filesystem_of_another_type_than_asked_is_refused()
    {
        GiveDevice("ext4", Fixtures.Uuid);

        var error = await Assert.ThrowsAsync<DeviceNotBlankException>(() => Service().MountAsync(_device, _mountpoint, "xfs", fstabPath: _fstab));

        Assert.Equal(
            $"{_device} already contains an ext4 filesystem (UUID {Fixtures.Uuid}), not xfs; refusing to format — pass --force-format to destroy it",
            error.Message);
        Assert.Equal(Original, FstabText);
    }

    [Fact]
    public async Task A_partition_table_is_refused_without_touching_anything()
    {
        _system.Devices[_device] = new FakeSystem.Device { PartitionTable = "gpt" };

        var error = await Assert.ThrowsAsync<DeviceNotBlankException>(() => Service().MountAsync(_device, _mountpoint, fstabPath: _fstab));

        Assert.Equal($"{_device} already contains a gpt partition table; refusing to format — pass --force-format to destroy it", error.Message);
        Assert.Equal([$"blkid -p -o export {_device}", $"findmnt -J -o SOURCE,TARGET,FSTYPE,UUID --source {_device}"], _system.Calls);
    }

    [Fact]
    public async Task Force_format_replaces_an_existing_filesystem()
    {
        GiveDevice("ext4", Fixtures.OtherUuid);

        var outcome = await Service().MountAsync(_device, _mountpoint, "xfs", forceFormat: true, fstabPath: _fstab);

        Assert.True(outcome.Format!.Overwrote);
        Assert.NotEqual(Fixtures.OtherUuid, outcome.Uuid);
        Assert.Contains($"mkfs.xfs -f {_device}", _system.Calls);
    }

    [Fact]
    public async Task Force_format_refuses_a_mounted_device()
    {
        GiveDevice("xfs", Fixtures.Uuid);
        _system.Mounts.Add(new MountedFilesystem(_device, _mountpoint, "xfs", Fixtures.Uuid));

        var error = await Assert.ThrowsAsync<DeviceInUseException>(
            () => Service().MountAsync(_device, _mountpoint, forceFormat: true, fstabPath: _fstab));

        Assert.Equal($"{_device} is mounted on {_mountpoint}; unmount it before formatting", error.Message);
    }

    [Fact]
    public async Task Without_udevadm_the_settle_step_is_skipped()
    {
        _system.MissingTools.Add("udevadm");

        var outcome = await Service().MountAsync(_device, _mountpoint, "ext4", fstabPath: _fstab);

        Assert.Equal("ext4", outcome.FsType);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("udevadm", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_relative_directory_is_refused()
    {
        var error = await Assert.ThrowsAsync<MountManagerException>(() => Service().MountAsync(_device, "iscsi", fstabPath: _fstab));

        Assert.Equal("mount directory must be an absolute path, not 'iscsi'", error.Message);
        Assert.Empty(_system.Calls);
    }

    [Fact]
    public async Task Unmount_removes_only_our_line()
    {
        var mounted = await Service().MountAsync(_device, _mountpoint + "/", fstabPath: _fstab);
        File.AppendAllText(_fstab, $"UUID={Fixtures.OtherUuid} /other xfs defaults,_netdev 0 0\n");

        var outcome = await Service().UnmountAsync(_mountpoint, removeFstab: true, fstabPath: _fstab);

        Assert.True(outcome.WasMounted);
        Assert.Equal(mounted.Uuid, outcome.Uuid);
        Assert.Equal(FstabChange.Removed, outcome.Fstab!.Change);
        Assert.Equal(Original + $"UUID={Fixtures.OtherUuid} /other xfs defaults,_netdev 0 0\n", FstabText);
        Assert.Empty(_system.Mounts);
    }

    [Fact]
    public async Task Unmount_can_keep_the_fstab_line()
    {
        await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);
        var bytes = File.ReadAllBytes(_fstab);

        var outcome = await Service().UnmountAsync(_mountpoint, removeFstab: false, fstabPath: _fstab);

        Assert.True(outcome.WasMounted);
        Assert.Null(outcome.Fstab);
        Assert.Equal(bytes, File.ReadAllBytes(_fstab));
    }

    [Fact]
    public async Task Unmounting_what_is_not_mounted_still_cleans_up_our_line()
    {
        File.AppendAllText(_fstab, $"UUID={Fixtures.Uuid} {_mountpoint} xfs defaults,_netdev 0 0\n");

        var outcome = await Service().UnmountAsync(_mountpoint, removeFstab: true, fstabPath: _fstab);

        Assert.False(outcome.WasMounted);
        Assert.Equal(FstabChange.Removed, outcome.Fstab!.Change);
        Assert.Equal(Original, FstabText);
        Assert.DoesNotContain(_system.Calls, call => call.StartsWith("umount", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_busy_unmount_leaves_fstab_alone()
    {
        await Service().MountAsync(_device, _mountpoint, fstabPath: _fstab);
        var bytes = File.ReadAllBytes(_fstab);
        _system.Override = (tool, _) => tool == "umount" ? new CommandResult(32, "", $"umount: {_mountpoint}: target is busy.\n") : null;

        var error = await Assert.ThrowsAsync<MountFailedException>(() => Service().UnmountAsync(_mountpoint, true, _fstab));

        Assert.Equal($"umount {_mountpoint} failed: umount: {_mountpoint}: target is busy.", error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(_fstab));
    }

    [Fact]
    public async Task The_uuid_comes_from_blkid_when_findmnt_does_not_know_it()
    {
        GiveDevice("xfs", Fixtures.Uuid);
        Directory.CreateDirectory(_mountpoint);
        _system.Mounts.Add(new MountedFilesystem(_device, _mountpoint, "xfs", null));
        File.WriteAllBytes(_fstab, Encoding.UTF8.GetBytes(Original + $"UUID={Fixtures.Uuid} {_mountpoint} xfs defaults,_netdev 0 0\n"));

        var outcome = await Service().UnmountAsync(_mountpoint, true, _fstab);

        Assert.Equal(Fixtures.Uuid, outcome.Uuid);
        Assert.Equal(Original, FstabText);
    }
}
