using System.Text;
using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Tests.Support;

namespace IscsiUp.MountManager.Tests.Fstab;

public sealed class FstabEditorTests : IDisposable
{
    private const string Uuid = Fixtures.Uuid;
    private const UnixFileMode Mode0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private FstabEditor Editor(string path, IFstabValidator? validator = null, List<string>? log = null) =>
        new(path, validator ?? NoFstabValidation.Instance, log: log is null ? null : log.Add);

    private string[] StrayFiles() =>
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Where(name => name!.Contains(".tmp", StringComparison.Ordinal)).ToArray()!;

    [Fact]
    public async Task Add_writes_the_line_keeps_a_backup_and_the_mode()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        File.SetUnixFileMode(path, Mode0640);
        var editor = Editor(path);

        var result = await editor.AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.Equal(FstabChange.Added, result.Change);
        Assert.Equal(Encoding.UTF8.GetBytes(Fixtures.Nasty + Fixtures.OurLine + "\n"), File.ReadAllBytes(path));
        Assert.Equal(path + ".iscsi-up.bak", editor.BackupPath);
        Assert.Equal(Encoding.UTF8.GetBytes(Fixtures.Nasty), File.ReadAllBytes(editor.BackupPath));
        Assert.Equal(Mode0640, File.GetUnixFileMode(path));
        Assert.Equal(Mode0640, File.GetUnixFileMode(editor.BackupPath));
        Assert.Empty(StrayFiles());
    }

    [Fact]
    public async Task A_second_add_writes_nothing()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        var editor = Editor(path);
        await editor.AddMountAsync(Uuid, "/iscsi", "xfs");
        File.Delete(editor.BackupPath);
        var old = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, old);
        var bytes = File.ReadAllBytes(path);

        var result = await editor.AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.Equal(FstabChange.AlreadyPresent, result.Change);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal(old, File.GetLastWriteTimeUtc(path));
        Assert.False(File.Exists(editor.BackupPath));
    }

    [Fact]
    public async Task Nothing_to_remove_writes_nothing()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        var old = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, old);
        var editor = Editor(path);

        var result = await editor.RemoveMountAsync("/iscsi", Uuid);

        Assert.Equal(FstabChange.NotFound, result.Change);
        Assert.Equal(old, File.GetLastWriteTimeUtc(path));
        Assert.False(File.Exists(editor.BackupPath));
    }

    [Fact]
    public async Task Remove_takes_out_our_line_and_backs_up_the_state_before()
    {
        var withOurs = Fixtures.Nasty + Fixtures.OurLine + "\n";
        var path = _dir.WriteText("fstab", withOurs);
        var editor = Editor(path);

        var result = await editor.RemoveMountAsync("/iscsi", Uuid);

        Assert.Equal(FstabChange.Removed, result.Change);
        Assert.Equal(Encoding.UTF8.GetBytes(Fixtures.Nasty), File.ReadAllBytes(path));
        Assert.Equal(Encoding.UTF8.GetBytes(withOurs), File.ReadAllBytes(editor.BackupPath));
    }

    [Fact]
    public async Task Conflicts_leave_the_file_untouched()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        var editor = Editor(path);

        var error = await Assert.ThrowsAsync<FstabConflictException>(() => editor.AddMountAsync(Uuid, "/var/www", "xfs"));

        Assert.StartsWith($"{path} line 11 already mounts /srv/data/www on /var/www", error.Message);
        Assert.Equal(Encoding.UTF8.GetBytes(Fixtures.Nasty), File.ReadAllBytes(path));
        Assert.False(File.Exists(editor.BackupPath));
    }

    [Fact]
    public async Task Replace_through_the_editor_writes_in_place()
    {
        var path = _dir.WriteText("fstab", Fixtures.NoTrailingNewline);
        var editor = Editor(path);

        await editor.AddMountAsync(Uuid, "/", "xfs", replace: true);

        Assert.Equal($"# minimal\nUUID={Uuid} / xfs defaults,_netdev 0 0", File.ReadAllText(path));
    }

    [Fact]
    public async Task A_missing_fstab_is_created_0644_without_backup()
    {
        var path = _dir.Combine("fstab");
        var editor = Editor(path);

        await editor.AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.Equal(Fixtures.OurLine + "\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        Assert.False(File.Exists(editor.BackupPath));
    }

    [Fact]
    public async Task A_symlinked_fstab_stays_a_symlink()
    {
        Directory.CreateDirectory(_dir.Combine("real"));
        var target = _dir.WriteText("real/fstab", Fixtures.Crlf);
        var link = _dir.Combine("fstab");
        File.CreateSymbolicLink(link, target);
        var editor = Editor(link);

        await editor.AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal(Fixtures.Crlf + Fixtures.OurLine + "\r\n", File.ReadAllText(target));
        Assert.Equal(target + ".iscsi-up.bak", editor.BackupPath);
        Assert.Equal(Fixtures.Crlf, File.ReadAllText(editor.BackupPath));
    }

    [Fact]
    public async Task A_verification_failure_keeps_the_original()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        File.SetUnixFileMode(path, Mode0640);
        var old = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, old);
        var validator = new RecordingValidator(file => file == path
            ? FstabVerification.Clean
            : new FstabVerification(["/iscsi: unreachable on boot required target: No such file or directory"]));
        var editor = Editor(path, validator);

        var error = await Assert.ThrowsAsync<FstabVerificationException>(() => editor.AddMountAsync(Uuid, "/iscsi", "xfs"));

        Assert.Equal(
            $"findmnt --verify rejects the edited {path}: /iscsi: unreachable on boot required target: No such file or directory; {path} was left unchanged",
            error.Message);
        Assert.Equal(Encoding.UTF8.GetBytes(Fixtures.Nasty), File.ReadAllBytes(path));
        Assert.Equal(old, File.GetLastWriteTimeUtc(path));
        Assert.Equal(Mode0640, File.GetUnixFileMode(path));
        Assert.False(File.Exists(editor.BackupPath));
        Assert.Empty(StrayFiles());
        // The candidate was checked with its final mode, before it replaced anything.
        Assert.Contains(validator.Verified, file => file != path);
    }

    [Fact]
    public async Task Errors_the_original_already_had_do_not_block_an_edit()
    {
        const string Known = "/var/www: unreachable on boot required target: No such file or directory";
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        var validator = new RecordingValidator(_ => new FstabVerification([Known]));

        await Editor(path, validator).AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.EndsWith(Fixtures.OurLine + "\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task A_second_copy_of_a_known_error_is_new()
    {
        const string Known = "/iscsi: unreachable on boot required source: UUID=x";
        var path = _dir.WriteText("fstab", "UUID=x /iscsi xfs defaults 0 0\n");
        var validator = new RecordingValidator(file => file == path ? new FstabVerification([Known]) : new FstabVerification([Known, Known]));

        await Assert.ThrowsAsync<FstabVerificationException>(() => Editor(path, validator).AddMountAsync("y", "/other", "xfs"));
    }

    [Fact]
    public async Task Without_a_verifier_the_edit_goes_ahead_and_says_so()
    {
        var path = _dir.WriteText("fstab", "");
        var log = new List<string>();

        await Editor(path, new RecordingValidator(_ => null), log).AddMountAsync(Uuid, "/iscsi", "xfs");

        Assert.Equal(Fixtures.OurLine + "\n", File.ReadAllText(path));
        Assert.Contains($"findmnt --verify is not available; {path} was not verified", log);
    }

    [Fact]
    public async Task A_concurrent_change_is_not_overwritten()
    {
        var path = _dir.WriteText("fstab", Fixtures.Nasty);
        const string Theirs = "# someone else was quicker\n";
        var validator = new RecordingValidator(file =>
        {
            if (file != path) File.WriteAllText(path, Theirs);
            return FstabVerification.Clean;
        });

        var error = await Assert.ThrowsAsync<FstabChangedException>(() => Editor(path, validator).AddMountAsync(Uuid, "/iscsi", "xfs"));

        Assert.Equal($"{path} changed while iscsi-up was editing it; nothing was written, try again", error.Message);
        Assert.Equal(Theirs, File.ReadAllText(path));
        Assert.Empty(StrayFiles());
    }

    [Fact]
    public async Task Real_findmnt_rejects_a_line_for_a_directory_that_does_not_exist()
    {
        DiskImages.RequireTools("findmnt");
        const string Original = "# test fstab\nproc /proc proc defaults 0 0\n";
        var path = _dir.WriteText("fstab", Original);
        var missing = _dir.Combine("no-such-dir");

        var error = await Assert.ThrowsAsync<FstabVerificationException>(
            () => new FstabEditor(path).AddMountAsync(Uuid, missing, "xfs"));

        Assert.Contains($"{missing}: unreachable on boot required target", error.Message);
        Assert.EndsWith($"; {path} was left unchanged", error.Message);
        Assert.Equal(Original, File.ReadAllText(path));
        Assert.Empty(StrayFiles());
    }

    [Fact]
    public async Task Real_findmnt_tolerates_problems_that_were_already_there()
    {
        DiskImages.RequireTools("findmnt");
        // A parse error and an unreachable line the administrator already lives with; removing our line
        // shifts line numbers, which must not make the old parse error look new.
        var text =
            "onlyonefield\n" +
            $"UUID={Fixtures.OtherUuid} {_dir.Combine("gone")} xfs defaults 0 0\n" +
            $"UUID={Uuid} /iscsi xfs defaults,_netdev 0 0\n" +
            "garbage\n";
        var path = _dir.WriteText("fstab", text);

        var result = await new FstabEditor(path).RemoveMountAsync("/iscsi", Uuid);

        Assert.Equal(FstabChange.Removed, result.Change);
        Assert.Equal(
            "onlyonefield\n" + $"UUID={Fixtures.OtherUuid} {_dir.Combine("gone")} xfs defaults 0 0\n" + "garbage\n",
            File.ReadAllText(path));
    }
}
