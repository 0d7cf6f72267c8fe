using IscsiUp.MountManager.Fstab;

namespace IscsiUp.MountManager.Tests.Fstab;

public sealed class FstabRemoveMountTests
{
    private const string Uuid = Fixtures.Uuid;

    [Fact]
    public void Removes_only_our_line_and_restores_the_original_bytes()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);
        file.AddMount(Uuid, "/iscsi", "xfs");

        var result = file.RemoveMount("/iscsi", Uuid);

        Assert.Equal(Fixtures.Nasty, file.ToString());
        Assert.Equal(FstabChange.Removed, result.Change);
        Assert.Equal(16, result.LineNumber);
        Assert.Equal(Fixtures.OurLine, result.Line);
        Assert.Equal("removed line 16", result.Description);
    }

    [Fact]
    public void Removes_from_the_middle_keeping_neighbours_intact()
    {
        var text = "# a\t\n" + Fixtures.OurLine + "\n  # b  \n";
        var file = FstabFile.Parse(text);

        file.RemoveMount("/iscsi/", Uuid.ToUpperInvariant());

        Assert.Equal("# a\t\n  # b  \n", file.ToString());
    }

    [Fact]
    public void Leaves_other_sources_on_the_same_directory_alone()
    {
        var text = "/dev/sdb1 /iscsi xfs defaults 0 0\n" + $"UUID={Fixtures.OtherUuid} /iscsi xfs defaults,_netdev 0 0\n";
        var file = FstabFile.Parse(text);

        var result = file.RemoveMount("/iscsi", Uuid);

        Assert.Equal(FstabChange.NotFound, result.Change);
        Assert.False(result.Changed);
        Assert.Equal("no matching line", result.Description);
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void Leaves_our_uuid_on_another_directory_alone()
    {
        var text = $"UUID={Uuid} /elsewhere xfs defaults,_netdev 0 0\n";
        var file = FstabFile.Parse(text);

        Assert.Equal(FstabChange.NotFound, file.RemoveMount("/iscsi", Uuid).Change);
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void Without_a_uuid_only_uuid_lines_with_netdev_are_ours()
    {
        var text =
            "LABEL=x /iscsi xfs defaults,_netdev 0 0\n" +
            $"UUID={Fixtures.OtherUuid} /iscsi xfs defaults 0 0\n" +
            $"UUID={Uuid} /iscsi xfs defaults,_netdev 0 0\n" +
            "nas:/x /iscsi nfs _netdev 0 0\n";
        var file = FstabFile.Parse(text);

        var result = file.RemoveMount("/iscsi");

        Assert.Equal(FstabChange.Removed, result.Change);
        Assert.Equal(3, result.LineNumber);
        Assert.Equal(
            "LABEL=x /iscsi xfs defaults,_netdev 0 0\n" +
            $"UUID={Fixtures.OtherUuid} /iscsi xfs defaults 0 0\n" +
            "nas:/x /iscsi nfs _netdev 0 0\n",
            file.ToString());
    }

    [Fact]
    public void Removes_duplicates_too()
    {
        var file = FstabFile.Parse($"{Fixtures.OurLine}\n# keep\n{Fixtures.OurLine}\n");

        var result = file.RemoveMount("/iscsi", Uuid);

        Assert.Equal("removed 2 lines", result.Description);
        Assert.Equal("# keep\n", file.ToString());
    }

    [Fact]
    public void Escaped_directories_match()
    {
        var file = FstabFile.Parse($"UUID={Uuid} /mnt/iscsi\\040disk xfs defaults,_netdev 0 0\n# end\n");

        file.RemoveMount("/mnt/iscsi disk", Uuid);

        Assert.Equal("# end\n", file.ToString());
    }

    [Fact]
    public void Removing_a_last_line_without_newline_leaves_a_file_without_one()
    {
        var file = FstabFile.Parse($"# head\n{Fixtures.OurLine}");

        file.RemoveMount("/iscsi", Uuid);

        Assert.Equal("# head", file.ToString());
    }
}
