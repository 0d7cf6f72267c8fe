using IscsiUp.MountManager.Fstab;

namespace IscsiUp.MountManager.Tests.Fstab;

public sealed class FstabAddMountTests
{
    private const string Uuid = Fixtures.Uuid;

    [Fact]
    public void Appends_exactly_one_line_and_touches_nothing_else()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);

        var result = file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(Fixtures.Nasty + Fixtures.OurLine + "\n", file.ToString());
        Assert.Equal(FstabChange.Added, result.Change);
        Assert.Equal(16, result.LineNumber);
        Assert.Equal(Fixtures.OurLine, result.Line);
        Assert.Equal("added line 16", result.Description);
    }

    [Fact]
    public void Adding_twice_changes_nothing_the_second_time()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);
        file.AddMount(Uuid, "/iscsi", "xfs");
        var afterFirst = file.ToBytes();

        var second = file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(FstabChange.AlreadyPresent, second.Change);
        Assert.False(second.Changed);
        Assert.Equal("already present (line 16)", second.Description);
        Assert.Equal(afterFirst, file.ToBytes());
    }

    [Theory]
    [InlineData("UUID=\"" + Uuid + "\"\t/iscsi\txfs\tdefaults,_netdev\t0\t0\n")]
    [InlineData("UUID=" + "0B6C3F5E-2A41-4D7E-9C1B-8F2E6A4D9C30" + " /iscsi/ xfs defaults,_netdev 0 0\n")]
    [InlineData("UUID=" + Uuid + "   //iscsi   xfs   defaults,_netdev\n")]
    [InlineData("/dev/disk/by-uuid/" + Uuid + " /iscsi xfs defaults,_netdev 0 0\n")]
    [InlineData("UUID=" + Uuid + " /iscsi xfs defaults 0 0\n")]
    public void An_equivalent_line_counts_as_already_present(string existing)
    {
        var text = "# header\n" + existing;
        var file = FstabFile.Parse(text);

        var result = file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(FstabChange.AlreadyPresent, result.Change);
        Assert.Equal(2, result.LineNumber);
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void A_file_without_final_newline_gets_one_before_our_line_and_keeps_ending_without_one()
    {
        var file = FstabFile.Parse(Fixtures.NoTrailingNewline);

        file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(Fixtures.NoTrailingNewline + "\n" + Fixtures.OurLine, file.ToString());
    }

    [Fact]
    public void A_crlf_file_gets_a_crlf_line()
    {
        var file = FstabFile.Parse(Fixtures.Crlf);

        file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(Fixtures.Crlf + Fixtures.OurLine + "\r\n", file.ToString());
    }

    [Fact]
    public void An_empty_file_gets_just_our_line()
    {
        var file = FstabFile.Parse("");

        file.AddMount(Uuid, "/iscsi", "ext4");

        Assert.Equal($"UUID={Uuid} /iscsi ext4 defaults,_netdev 0 0\n", file.ToString());
    }

    [Fact]
    public void A_directory_with_spaces_is_written_escaped_and_recognised_again()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);

        file.AddMount(Uuid, "/mnt/iscsi disk", "xfs");
        var again = file.AddMount(Uuid, "/mnt/iscsi disk/", "xfs");

        Assert.Equal(Fixtures.Nasty + $"UUID={Uuid} /mnt/iscsi\\040disk xfs defaults,_netdev 0 0\n", file.ToString());
        Assert.Equal(FstabChange.AlreadyPresent, again.Change);
        Assert.Equal("/mnt/iscsi disk", file.Entries.Last().Target);
    }

    [Fact]
    public void Options_dump_and_pass_can_be_chosen()
    {
        var file = FstabFile.Parse("");

        file.AddMount(Uuid, "/iscsi", "ext4", "defaults,_netdev,noatime", 1, 2);

        Assert.Equal($"UUID={Uuid} /iscsi ext4 defaults,_netdev,noatime 1 2\n", file.ToString());
    }

    [Fact]
    public void A_commented_out_line_is_not_an_entry()
    {
        var text = $"#{Fixtures.OurLine}\n# UUID={Fixtures.OtherUuid} /iscsi xfs defaults 0 0\n";
        var file = FstabFile.Parse(text);

        var result = file.AddMount(Uuid, "/iscsi", "xfs");

        Assert.Equal(FstabChange.Added, result.Change);
        Assert.Equal(text + Fixtures.OurLine + "\n", file.ToString());
    }

    [Fact]
    public void Another_source_on_the_directory_is_a_conflict()
    {
        var file = FstabFile.Parse(Fixtures.Nasty, "/etc/fstab");

        var error = Assert.Throws<FstabConflictException>(() => file.AddMount(Uuid, "/var/www", "xfs"));

        Assert.Equal(
            $"/etc/fstab line 11 already mounts /srv/data/www on /var/www (wanted UUID={Uuid}); pass --replace to replace that line",
            error.Message);
        Assert.Equal(11, error.LineNumber);
        Assert.Equal(Fixtures.Nasty, file.ToString());
    }

    [Fact]
    public void The_nfs_home_is_a_conflict_too()
    {
        var file = FstabFile.Parse(Fixtures.Nasty, "/etc/fstab");

        var error = Assert.Throws<FstabConflictException>(() => file.AddMount(Uuid, "/home/", "xfs"));

        Assert.Equal(
            $"/etc/fstab line 12 already mounts nas.example.com:/export/home on /home (wanted UUID={Uuid}); pass --replace to replace that line",
            error.Message);
    }

    [Fact]
    public void An_escaped_directory_in_the_file_conflicts_with_the_plain_name()
    {
        var file = FstabFile.Parse(Fixtures.Nasty, "/etc/fstab");

        var error = Assert.Throws<FstabConflictException>(() => file.AddMount(Uuid, "/mnt/My Photos", "xfs"));

        Assert.Equal(
            $"/etc/fstab line 13 already mounts /dev/sdc1 on /mnt/My Photos (wanted UUID={Uuid}); pass --replace to replace that line",
            error.Message);
    }

    [Fact]
    public void The_same_uuid_on_another_directory_is_a_conflict()
    {
        var text = Fixtures.Nasty + $"UUID=\"{Uuid.ToUpperInvariant()}\" /data xfs defaults,_netdev 0 0\n";
        var file = FstabFile.Parse(text, "/etc/fstab");

        var error = Assert.Throws<FstabConflictException>(() => file.AddMount(Uuid, "/iscsi", "xfs"));

        Assert.Equal(
            $"/etc/fstab line 16 already mounts UUID={Uuid} on /data (wanted /iscsi); pass --replace to replace that line",
            error.Message);
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void Even_an_exact_line_does_not_hide_a_conflict()
    {
        var text = $"{Fixtures.OurLine}\n/dev/sdb1 /iscsi xfs defaults 0 0\n";
        var file = FstabFile.Parse(text);

        Assert.Throws<FstabConflictException>(() => file.AddMount(Uuid, "/iscsi", "xfs"));
    }

    [Fact]
    public void Replace_rewrites_the_conflicting_line_in_place()
    {
        var file = FstabFile.Parse(Fixtures.Nasty);

        var result = file.AddMount(Uuid, "/var/www", "xfs", replace: true);

        var expected = Fixtures.Nasty.Replace("/srv/data/www\t/var/www\tnone\tbind\t0\t0\n", $"UUID={Uuid} /var/www xfs defaults,_netdev 0 0\n");
        Assert.Equal(expected, file.ToString());
        Assert.Equal(FstabChange.Replaced, result.Change);
        Assert.Equal(11, result.LineNumber);
        Assert.Equal(["/srv/data/www\t/var/www\tnone\tbind\t0\t0"], result.RemovedLines);
    }

    [Fact]
    public void Replace_keeps_a_missing_final_newline_missing()
    {
        var file = FstabFile.Parse("# x\n/dev/sdb1 /iscsi xfs defaults 0 0");

        file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal("# x\n" + Fixtures.OurLine, file.ToString());
    }

    [Fact]
    public void Replace_keeps_crlf_on_the_replaced_line()
    {
        var file = FstabFile.Parse("/dev/sdb1 /iscsi xfs defaults 0 0\r\n# after\r\n");

        file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal(Fixtures.OurLine + "\r\n# after\r\n", file.ToString());
    }

    [Fact]
    public void Replace_with_conflicts_on_both_sides_keeps_one_line_at_the_first_position()
    {
        var text =
            "# top\n" +
            $"UUID={Uuid} /old xfs defaults 0 0\n" +
            "# middle\n" +
            "/dev/sdb1 /iscsi ext4 defaults 0 0\n" +
            "# bottom\n";
        var file = FstabFile.Parse(text);

        var result = file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal("# top\n" + Fixtures.OurLine + "\n# middle\n# bottom\n", file.ToString());
        Assert.Equal(2, result.LineNumber);
        Assert.Equal(2, result.RemovedLines.Count);
        Assert.Equal(
            $"replaced line 2 (was: UUID={Uuid} /old xfs defaults 0 0 | /dev/sdb1 /iscsi ext4 defaults 0 0)",
            result.Description);
    }

    [Fact]
    public void Replace_rewrites_our_pair_when_its_options_differ()
    {
        var file = FstabFile.Parse($"UUID={Uuid} /iscsi xfs defaults 0 0\n");

        var result = file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal(FstabChange.Replaced, result.Change);
        Assert.Equal(Fixtures.OurLine + "\n", file.ToString());
    }

    [Fact]
    public void Replace_leaves_an_identical_line_alone()
    {
        var text = $"UUID=\"{Uuid}\"\t/iscsi\txfs\tdefaults,_netdev\t0\t0\n";
        var file = FstabFile.Parse(text);

        var result = file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal(FstabChange.AlreadyPresent, result.Change);
        Assert.Equal(text, file.ToString());
    }

    [Fact]
    public void Replace_removes_duplicates_of_our_line()
    {
        var file = FstabFile.Parse($"{Fixtures.OurLine}\n# x\n{Fixtures.OurLine}\n");

        var result = file.AddMount(Uuid, "/iscsi", "xfs", replace: true);

        Assert.Equal(FstabChange.Replaced, result.Change);
        Assert.Equal($"{Fixtures.OurLine}\n# x\n", file.ToString());
    }

    [Fact]
    public void Conflict_check_without_uuid_looks_at_the_directory_only()
    {
        var file = FstabFile.Parse(Fixtures.Nasty, "/etc/fstab");

        file.EnsureNoConflict(null, "/iscsi");
        var error = Assert.Throws<FstabConflictException>(() => file.EnsureNoConflict(null, "/srv/data"));

        Assert.Equal("/etc/fstab line 6 already mounts LABEL=data on /srv/data; pass --replace to replace that line", error.Message);
    }

    [Theory]
    [InlineData("", "/iscsi", "xfs", "defaults,_netdev", "invalid filesystem UUID '' for fstab")]
    [InlineData("a b", "/iscsi", "xfs", "defaults,_netdev", "invalid filesystem UUID 'a b' for fstab")]
    [InlineData(Uuid, "iscsi", "xfs", "defaults,_netdev", "mount directory must be an absolute path, not 'iscsi'")]
    [InlineData(Uuid, "/iscsi", "x fs", "defaults,_netdev", "invalid filesystem type 'x fs' for fstab")]
    [InlineData(Uuid, "/iscsi", "xfs", "defaults, _netdev", "invalid mount options 'defaults, _netdev' for fstab")]
    public void Bad_arguments_are_refused(string uuid, string dir, string fsType, string options, string message)
    {
        var file = FstabFile.Parse("");

        var error = Assert.Throws<MountManagerException>(() => file.AddMount(uuid, dir, fsType, options));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Format_line_is_the_documented_form()
    {
        Assert.Equal(Fixtures.OurLine, FstabFile.FormatLine(Uuid, "/iscsi/", "xfs"));
    }
}
