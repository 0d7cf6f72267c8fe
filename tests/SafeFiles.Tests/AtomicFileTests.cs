namespace IscsiUp.SafeFiles.Tests;

public sealed class AtomicFileTests
{
    [Fact]
    public void Write_replaces_a_planted_symlink_instead_of_writing_through_it()
    {
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "1.session");
        File.CreateSymbolicLink(path, scratch.Victim);

        AtomicFile.Write(path, "id=1\n");

        Assert.Equal("precious\n", File.ReadAllText(scratch.Victim));
        Assert.Null(new FileInfo(path).LinkTarget);
        Assert.Equal("id=1\n", File.ReadAllText(path));
    }

    [Fact]
    public void Write_ignores_a_symlink_planted_at_the_old_fixed_temporary_name()
    {
        // Every writer used to stage its content in PATH.tmp, created through whatever was there.
        using var scratch = new Scratch();
        string path = Path.Combine(scratch.Root, "a.node");
        File.CreateSymbolicLink(path + ".tmp", scratch.Victim);

        AtomicFile.Write(path, "node.target=x\n");

        Assert.Equal("precious\n", File.ReadAllText(scratch.Victim));
        Assert.Equal("node.target=x\n", File.ReadAllText(path));
    }

    [Fact]
    public void Write_gives_the_file_exactly_the_mode_asked_for_and_leaves_no_temporary_file()
    {
        using var scratch = new Scratch();
        string dir = Path.Combine(scratch.Root, "d");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "secret");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, (UnixFileMode)0x1B6); // 0666: the replacement must not inherit it

        AtomicFile.Write(path, "new\n"u8, AtomicFile.OwnerOnly);

        Assert.Equal(AtomicFile.OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal("new\n", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public async Task WriteAsync_abandons_the_replacement_when_the_check_throws_and_cleans_up()
    {
        using var scratch = new Scratch();
        string dir = Path.Combine(scratch.Root, "d");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "fstab");
        File.WriteAllText(path, "old\n");
        string? seen = null;

        await Assert.ThrowsAsync<InvalidDataException>(() => AtomicFile.WriteAsync(path, "new\n"u8.ToArray(), AtomicFile.OwnerOnly,
            (temp, _) =>
            {
                seen = File.ReadAllText(temp);
                throw new InvalidDataException("check failed");
            }, CancellationToken.None));

        Assert.Equal("new\n", seen);
        Assert.Equal("old\n", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }
}
