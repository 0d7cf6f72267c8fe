namespace IscsiUp.SafeFiles.Tests;

/// <summary>Root keeps state only in directories nobody else can write: another user's directory, or one anybody
/// may write, lets that user plant symlinks that redirect root's writes (issue 19, class 7).</summary>
public sealed class TrustedDirectoryTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Everyone = (UnixFileMode)0x1FF; // 0777

    [Fact]
    public void A_missing_directory_is_created_private()
    {
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "run");

        TrustedDirectory.Ensure(path);

        Assert.Equal(Private, File.GetUnixFileMode(path));
    }

    [Fact]
    public void A_directory_of_another_user_is_refused_even_when_only_its_owner_may_write()
    {
        using var scratch = new Scratch();
        string path = scratch.ForeignDirectory("run", Private);

        var refused = Assert.Throws<UntrustedDirectoryException>(() => TrustedDirectory.Ensure(path));

        Assert.Equal($"refusing to use {path}: it is owned by uid 65534, not by root; it must be a directory owned by root (or by the user running iscsi-up) and writable by no one else", refused.Message);
    }

    [Fact]
    public void A_world_writable_directory_is_refused_even_when_root_owns_it()
    {
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "run");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, Everyone);

        var refused = Assert.Throws<UntrustedDirectoryException>(() => TrustedDirectory.Ensure(path));

        Assert.Contains("it is writable by other users (mode 777)", refused.Message);
    }

    [Fact]
    public void A_group_writable_directory_is_refused()
    {
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "run");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);

        Assert.Throws<UntrustedDirectoryException>(() => TrustedDirectory.Check(path));
    }

    [Fact]
    public void A_symlink_in_place_of_the_directory_is_refused()
    {
        using var scratch = new Scratch();
        string real = Path.Combine(scratch.Root, "elsewhere");
        Directory.CreateDirectory(real);
        string path = Path.Combine(scratch.Root, "run");
        File.CreateSymbolicLink(path, real);

        var refused = Assert.Throws<UntrustedDirectoryException>(() => TrustedDirectory.Ensure(path));

        Assert.Contains("is not a directory (a symbolic link or another file is there)", refused.Message);
    }

    [Fact]
    public void A_root_owned_directory_that_only_root_may_write_passes_and_a_missing_one_passes_a_check()
    {
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "run");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, Private | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        Assert.Equal(path, TrustedDirectory.Ensure(path));
        TrustedDirectory.Check(Path.Combine(scratch.Root, "absent"));
    }
}
