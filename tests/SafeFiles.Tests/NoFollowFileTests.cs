namespace IscsiUp.SafeFiles.Tests;

public sealed class NoFollowFileTests
{
    [Fact]
    public void OpenAppend_refuses_a_symlink_and_leaves_its_target_alone()
    {
        using var scratch = new Scratch();
        string log = Path.Combine(scratch.Root, "daemon.log");
        File.CreateSymbolicLink(log, scratch.Victim);

        var refused = Assert.Throws<IOException>(() => NoFollowFile.OpenAppend(log));

        Assert.Equal($"refusing to open {log}: it is a symbolic link", refused.Message);
        Assert.Equal("precious\n", File.ReadAllText(scratch.Victim));
    }

    [Fact]
    public void OpenAppend_creates_a_private_file_and_appends()
    {
        using var scratch = new Scratch();
        string log = Path.Combine(scratch.Root, "daemon.log");
        using (var first = NoFollowFile.OpenAppend(log)) first.Write("one\n"u8);
        using (var second = NoFollowFile.OpenAppend(log)) second.Write("two\n"u8);

        Assert.Equal("one\ntwo\n", File.ReadAllText(log));
        Assert.Equal(AtomicFile.OwnerOnly, File.GetUnixFileMode(log));
    }

    [Fact]
    public void TryOpenLocked_excludes_a_second_holder_and_refuses_a_symlink()
    {
        using var scratch = new Scratch();
        string lockPath = Path.Combine(scratch.Root, "daemon.lock");

        using (var held = NoFollowFile.TryOpenLocked(lockPath))
        {
            Assert.NotNull(held);
            Assert.Null(NoFollowFile.TryOpenLocked(lockPath));
        }
        using (var again = NoFollowFile.TryOpenLocked(lockPath))
            Assert.NotNull(again);

        string planted = Path.Combine(scratch.Root, "planted.lock");
        File.CreateSymbolicLink(planted, scratch.Victim);
        Assert.Throws<IOException>(() => NoFollowFile.TryOpenLocked(planted));
    }
}
