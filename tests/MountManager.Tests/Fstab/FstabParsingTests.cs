using System.Text;
using IscsiUp.MountManager.Fstab;

namespace IscsiUp.MountManager.Tests.Fstab;

public sealed class FstabParsingTests
{
    public static TheoryData<string> Texts => new()
    {
        Fixtures.Nasty,
        Fixtures.NoTrailingNewline,
        Fixtures.Crlf,
        "",
        "\n",
        "   ",
        "# only a comment",
        "mixed\r\nendings\n\r\nlone\rcarriage return\n",
        "onlyonefield\n/dev/sda1 /\n",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void Round_trip_is_byte_for_byte(string text)
    {
        var file = FstabFile.Parse(text);

        Assert.Equal(Encoding.UTF8.GetBytes(text), file.ToBytes());
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void Bytes_that_are_not_utf8_survive()
    {
        byte[] content = [.. "# caf"u8, 0xE9, .. "\n/dev/sdb1 /mnt/caf"u8, 0xE9, .. " ext4 defaults 0 0\n"u8];

        Assert.Equal(content, FstabFile.Parse(content).ToBytes());
    }

    [Fact]
    public void Entries_skip_comments_blank_and_whitespace_only_lines()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);

        Assert.Equal(15, file.Lines.Count);
        Assert.Equal(10, file.Entries.Count());
        Assert.True(file.Lines[0].IsComment);
        Assert.True(file.Lines[7].IsBlank);
        Assert.True(file.Lines[13].IsBlank);
        Assert.Null(file.Lines[13].Entry);
        Assert.Equal("   \t ", file.Lines[13].Text);
    }

    [Fact]
    public void Tags_are_recognised_and_quotes_removed()
    {
        var entries = FstabFile.Parse(Fixtures.Nasty).Entries.ToList();

        Assert.Equal(("UUID", "3f1c2a4e-8d2b-4c9e-9f1a-0b2c3d4e5f60"), (entries[0].Source.Tag, entries[0].Source.Value));
        Assert.Equal(("UUID", "7A3B-1C2D", "UUID=\"7A3B-1C2D\""), (entries[1].Source.Tag, entries[1].Source.Uuid, entries[1].Source.Raw));
        Assert.Equal(("LABEL", "data", null), (entries[2].Source.Tag, entries[2].Source.Value, entries[2].Source.Uuid));
        Assert.Equal(("PARTUUID", "0d5f6a7b-01", null), (entries[3].Source.Tag, entries[3].Source.Value, entries[3].Source.Uuid));
        Assert.Null(entries[4].Source.Tag);
        Assert.Equal("/swapfile", entries[4].Source.Value);
    }

    [Fact]
    public void Fields_are_read_with_tabs_and_repeated_spaces()
    {
        var entries = FstabFile.Parse(Fixtures.Nasty).Entries.ToList();

        var root = entries[0];
        Assert.Equal(("/", "ext4", "errors=remount-ro", "0", "1"), (root.Target, root.FsType, root.Options, root.Dump, root.Pass));
        var bind = entries[6];
        Assert.Equal(("/srv/data/www", "/var/www", "none", "bind"), (bind.Source.Value, bind.Target, bind.FsType, bind.Options));
        var swap = entries[5];
        Assert.Equal(("none", "swap"), (swap.Target, swap.FsType));
        var nfs = entries[7];
        Assert.Equal(["rw", "_netdev", "vers=4.2"], nfs.OptionList);
        var tmpfs = entries[9];
        Assert.Equal(("/tmp", "0"), (tmpfs.Target, tmpfs.Pass));
    }

    [Fact]
    public void Octal_escapes_are_decoded_for_comparison_and_kept_in_the_text()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);
        var photos = file.Entries.Single(e => e.Source.Value == "/dev/sdc1");

        Assert.Equal("/mnt/My Photos", photos.Target);
        Assert.Equal("/dev/sdc1 /mnt/My\\040Photos ext4 defaults,nofail 0 2   ", file.Lines[12].Text);
        Assert.Single(file.FindByTarget("/mnt/My Photos"));
        Assert.Single(file.FindByTarget("/mnt/My Photos/"));
    }

    [Fact]
    public void By_uuid_device_paths_count_as_the_uuid()
    {
        var file = FstabFile.Parse($"/dev/disk/by-uuid/{Fixtures.Uuid} /data xfs defaults 0 0\n");

        Assert.Equal(Fixtures.Uuid, file.Entries.Single().Source.Uuid);
        Assert.Single(file.FindByUuid(Fixtures.Uuid.ToUpperInvariant()));
    }

    [Fact]
    public void Entries_with_missing_optional_fields_are_entries()
    {
        var entry = FstabFile.Parse("/dev/sdb1 /data xfs\n").Entries.Single();

        Assert.Equal(("/data", "xfs", null, null, null), (entry.Target, entry.FsType, entry.Options, entry.Dump, entry.Pass));
    }

    [Fact]
    public void A_single_field_line_is_kept_but_is_not_an_entry()
    {
        var file = FstabFile.Parse("onlyonefield\n");

        Assert.Null(file.Lines[0].Entry);
        Assert.False(file.Lines[0].IsComment);
    }

    [Theory]
    [InlineData("/mnt/My\\040Photos", "/mnt/My Photos")]
    [InlineData("/a\\011b", "/a\tb")]
    [InlineData("/back\\134slash", "/back\\slash")]
    [InlineData("/not\\9an\\escape", "/not\\9an\\escape")]
    [InlineData("/short\\04", "/short\\04")]
    [InlineData("/plain", "/plain")]
    public void Escapes_decode(string field, string decoded) => Assert.Equal(decoded, FstabEscaping.Decode(field));

    [Theory]
    [InlineData("/mnt/iscsi disk", "/mnt/iscsi\\040disk")]
    [InlineData("/a\tb", "/a\\011b")]
    [InlineData("/back\\slash", "/back\\134slash")]
    [InlineData("/new\nline", "/new\\012line")]
    public void Escapes_encode_and_round_trip(string value, string encoded)
    {
        Assert.Equal(encoded, FstabEscaping.Encode(value));
        Assert.Equal(value, FstabEscaping.Decode(encoded));
    }
}
