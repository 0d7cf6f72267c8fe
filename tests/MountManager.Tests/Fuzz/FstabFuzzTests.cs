using System.Text;
using IscsiUp.MountManager.Fstab;
using IscsiUp.MountManager.Tests.Support;

namespace IscsiUp.MountManager.Tests.Fuzz;

/// <summary>
/// The fstab parser and editor on hostile files: random bytes (invalid UTF-8, NULs, very long lines, CR/CRLF, no
/// final newline) and random fstab-like text. Parsing never throws and writes every byte back; adding our line and
/// removing it again gives the original bytes; adding it twice changes nothing the second time.
/// </summary>
public sealed class FstabFuzzTests
{
    private static readonly string[] Tags = ["UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "ID=", "uuid=", "UUID", ""];
    private static readonly string[] Blanks = [" ", "\t", "  ", " \t ", "\t\t"];

    private sealed record Case(byte[] Bytes, string Uuid, string Directory);

    /// <summary>A mount directory with the characters that need escaping, or plain.</summary>
    private static string RandomDirectory(Random r) => r.Next(5) switch
    {
        0 => "/iscsi",
        1 => "/mnt/My Photos",
        2 => "/srv/data\\x\tz",
        3 => "/mnt/\u00e9t\u00e9/" + r.Next(100),
        _ => "/mnt/fuzz" + r.Next(1000),
    };

    private static string Fragment(Random r, string uuid, string dir)
    {
        switch (r.Next(14))
        {
            case 0: return "#" + Ascii(r, r.Next(0, 40));
            case 1: return Tags[r.Next(Tags.Length)] + (r.Next(3) == 0 ? uuid : r.Next(2) == 0 ? uuid.ToUpperInvariant() : new Guid(Enumerable.Range(0, 16).Select(_ => (byte)r.Next(256)).ToArray()).ToString());
            case 2: return "UUID=\"" + uuid + "\"";
            case 3: return "/dev/disk/by-uuid/" + uuid;
            case 4: return FstabEscaping.Encode(dir) + (r.Next(3) == 0 ? "/" : "");
            case 5: return "/" + dir.TrimStart('/').Replace("/", "//");
            case 6: return new[] { "xfs", "ext4", "nfs", "swap", "none", "tmpfs" }[r.Next(6)];
            case 7: return new[] { "defaults", "defaults,_netdev", "_netdev", "rw,noatime", "sw" }[r.Next(5)];
            case 8: return r.Next(3).ToString();
            case 9: return "\\" + r.Next(1000).ToString("000") + "\\9\\";
            case 10: return "\0";
            case 11: return Encoding.Latin1.GetString([(byte)r.Next(0x80, 0x100), (byte)r.Next(0x80, 0x100)]);
            case 12: return "\r";
            default: return Ascii(r, r.Next(1, 20));
        }
    }

    private static string Ascii(Random r, int length) => new(Enumerable.Range(0, length).Select(_ => (char)r.Next(0x21, 0x7F)).ToArray());

    /// <summary>Bytes of a random file: pure noise, or fstab-like lines with every quirk, stored as Latin-1 byte strings.</summary>
    private static Case RandomFile(Random r)
    {
        string uuid = new Guid(Enumerable.Range(0, 16).Select(_ => (byte)r.Next(256)).ToArray()).ToString();
        string dir = RandomDirectory(r);
        if (r.Next(6) == 0)
        {
            var noise = new byte[r.Next(0, 2000)];
            for (int i = 0; i < noise.Length; i++) noise[i] = r.Next(10) switch { 0 => (byte)'\n', 1 => (byte)'\r', 2 => 0, 3 => (byte)' ', _ => (byte)r.Next(256) };
            return new Case(noise, uuid, dir);
        }

        var text = new StringBuilder();
        for (int line = r.Next(0, 25); line > 0; line--)
        {
            if (r.Next(40) == 0) text.Append('x', r.Next(10_000, 200_000)); // a very long line
            if (r.Next(4) == 0) text.Append(Blanks[r.Next(Blanks.Length)]);
            for (int field = r.Next(0, 8); field > 0; field--)
            {
                text.Append(Fragment(r, uuid, ToByteString(dir)));
                if (field > 1 || r.Next(4) == 0) text.Append(Blanks[r.Next(Blanks.Length)]);
            }
            text.Append(r.Next(6) switch { 0 => "\r\n", 1 => "\r\r\n", 2 => "\n\r", _ => "\n" });
        }
        if (r.Next(4) == 0 && text.Length > 0) text.Length -= text[^1] == '\n' && text.Length > 1 && text[^2] == '\r' ? 2 : 1; // no final newline
        return new Case(Encoding.Latin1.GetBytes(text.ToString()), uuid, dir);
    }

    /// <summary>A directory as fstab holds it: its UTF-8 bytes as a Latin-1 string.</summary>
    private static string ToByteString(string dir) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(dir));

    private static void Run(int seed, int cases, Action<int, Random> body)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("FUZZ_SEED"), out int s)) seed = s;
        if (int.TryParse(Environment.GetEnvironmentVariable("FUZZ_CASES"), out int c) && c > 0) cases = c;
        for (int i = 0; i < cases; i++)
        {
            try { body(seed + i, new Random(seed + i)); }
            catch (Exception e)
            {
                throw new Exception($"fuzz case with seed {seed + i} failed (replay: FUZZ_SEED={seed + i} FUZZ_CASES=1): {e.GetType().Name}: {e.Message}", e);
            }
        }
    }

    [Fact]
    public void Random_files_parse_without_throwing_and_serialise_byte_for_byte()
    {
        Run(seed: 100, cases: 1_000, (seed, r) =>
        {
            var c = RandomFile(r);
            var file = FstabFile.Parse(c.Bytes);
            Assert.Equal(c.Bytes, file.ToBytes());

            // Every view of the parsed file is safe to look at.
            int newlines = c.Bytes.Count(b => b == (byte)'\n');
            Assert.Equal(newlines + (c.Bytes.Length > 0 && c.Bytes[^1] != (byte)'\n' ? 1 : 0), file.Lines.Count);
            _ = file.ToString();
            foreach (var line in file.Lines)
            {
                _ = (line.Text, line.IsBlank, line.IsComment, line.Terminator);
                Assert.True(line.Terminator is "\n" or "\r\n" or "");
                if (line.Entry is { } entry)
                    _ = (entry.Source.Raw, entry.Source.Tag, entry.Source.Value, entry.Source.Uuid, entry.Target, entry.FsType, entry.Options, entry.Dump, entry.Pass, entry.OptionList.Count);
            }
            _ = file.FindByTarget(c.Directory);
            _ = file.FindByUuid(c.Uuid);

            // Parsing what was written parses the same.
            Assert.Equal(file.Lines.Select(l => (l.Text, l.Terminator, l.Entry is null)), FstabFile.Parse(file.ToBytes()).Lines.Select(l => (l.Text, l.Terminator, l.Entry is null)));
        });
    }

    [Fact]
    public void Add_then_remove_restores_the_original_bytes_and_a_second_add_is_a_no_op()
    {
        int added = 0, conflicts = 0, present = 0;
        Run(seed: 2_000, cases: 1_500, (seed, r) =>
        {
            var c = RandomFile(r);
            if (c.Bytes.Length > 0 && c.Bytes[^1] != (byte)'\n') return; // see the skipped test below
            string fsType = r.Next(2) == 0 ? "xfs" : "ext4";
            var file = FstabFile.Parse(c.Bytes);

            bool conflictExpected;
            try { file.EnsureNoConflict(c.Uuid, c.Directory); conflictExpected = false; }
            catch (FstabConflictException) { conflictExpected = true; }

            FstabEditResult result;
            try
            {
                result = file.AddMount(c.Uuid, c.Directory, fsType);
            }
            catch (FstabConflictException e)
            {
                conflicts++;
                Assert.True(conflictExpected, "AddMount found a conflict EnsureNoConflict did not");
                Assert.Equal(c.Bytes, file.ToBytes()); // a refused edit leaves the file alone
                Assert.InRange(e.LineNumber, 1, file.Lines.Count);
                Assert.Equal(file.Lines[e.LineNumber - 1].Text, e.Line);
                return;
            }
            Assert.False(conflictExpected, "EnsureNoConflict reported a conflict AddMount did not");

            if (result.Change == FstabChange.AlreadyPresent)
            {
                present++;
                Assert.Equal(c.Bytes, file.ToBytes());
                return;
            }

            added++;
            Assert.Equal(FstabChange.Added, result.Change);
            byte[] withOurs = file.ToBytes();
            Assert.Equal(file.Lines.Count, result.LineNumber);
            Assert.Equal(FstabFile.FormatLine(c.Uuid, c.Directory, fsType), result.Line);
            Assert.Equal(c.Bytes, withOurs[..c.Bytes.Length]); // appended, nothing before it touched
            var reparsed = FstabFile.Parse(withOurs);
            Assert.Single(reparsed.FindByUuid(c.Uuid));
            Assert.Contains(reparsed.FindByTarget(c.Directory), e => e.Source.IsUuid(c.Uuid) && e.FsType == fsType);

            // Idempotent: the same mount again is no change, on this object and on the re-read file.
            Assert.Equal(FstabChange.AlreadyPresent, file.AddMount(c.Uuid, c.Directory, fsType).Change);
            Assert.Equal(withOurs, file.ToBytes());
            Assert.Equal(FstabChange.AlreadyPresent, reparsed.AddMount(c.Uuid.ToUpperInvariant(), c.Directory + "/", fsType).Change);
            Assert.Equal(withOurs, reparsed.ToBytes());

            var target = r.Next(2) == 0 ? file : reparsed;
            var removed = target.RemoveMount(c.Directory, r.Next(2) == 0 ? c.Uuid : null);
            Assert.Equal(FstabChange.Removed, removed.Change);
            Assert.Single(removed.RemovedLines);
            Assert.Equal(c.Bytes, target.ToBytes());
        });
        Assert.True(added > 150 && conflicts > 50 && present > 5, $"added {added}, conflicts {conflicts}, already present {present}");
    }

    /// <summary>
    /// Adding our line to a file whose last line has no newline gives that line one; removing our line again
    /// should take it away too, so that add + remove leaves the administrator's file exactly as it was.
    /// </summary>
    [Fact]
    public void Add_then_remove_restores_a_file_without_a_final_newline()
    {
        const string original = "# head\nUUID=3f1c2a4e-8d2b-4c9e-9f1a-0b2c3d4e5f60 / xfs defaults 0 0";
        var file = FstabFile.Parse(Encoding.UTF8.GetBytes(original));
        Assert.Equal(FstabChange.Added, file.AddMount("0b6c3f5e-2a41-4d7e-9c1b-8f2e6a4d9c30", "/iscsi", "xfs").Change);
        Assert.Equal(FstabChange.Removed, file.RemoveMount("/iscsi", "0b6c3f5e-2a41-4d7e-9c1b-8f2e6a4d9c30").Change);
        Assert.Equal(original, Encoding.UTF8.GetString(file.ToBytes()));

        Run(seed: 3_000, cases: 500, (seed, r) =>
        {
            var c = RandomFile(r);
            if (c.Bytes.Length == 0 || c.Bytes[^1] == (byte)'\n') return;
            var f = FstabFile.Parse(c.Bytes);
            try { if (f.AddMount(c.Uuid, c.Directory, "xfs").Change != FstabChange.Added) return; }
            catch (FstabConflictException) { return; }
            f.RemoveMount(c.Directory, c.Uuid);
            Assert.Equal(c.Bytes, f.ToBytes());
        });
    }

    [Fact]
    public async Task The_editor_round_trips_random_files_on_disk()
    {
        using var dir = new TempDirectory();
        int cases = 0;
        for (int seed = 4_000; cases < 25; seed++)
        {
            var r = new Random(seed);
            var c = RandomFile(r);
            if (c.Bytes.Length > 0 && c.Bytes[^1] != (byte)'\n') continue;
            cases++;
            string path = dir.Combine($"fstab-{seed}");
            await File.WriteAllBytesAsync(path, c.Bytes);
            var editor = new FstabEditor(path, NoFstabValidation.Instance);
            Assert.Equal(c.Bytes, editor.Load().ToBytes());

            FstabEditResult added;
            try { added = await editor.AddMountAsync(c.Uuid, c.Directory, "xfs"); }
            catch (FstabConflictException)
            {
                Assert.Equal(c.Bytes, await File.ReadAllBytesAsync(path)); // seed {seed}: refused edits write nothing
                continue;
            }
            byte[] withOurs = await File.ReadAllBytesAsync(path);
            Assert.Equal(FstabChange.AlreadyPresent, (await editor.AddMountAsync(c.Uuid, c.Directory, "xfs")).Change);
            Assert.Equal(withOurs, await File.ReadAllBytesAsync(path));
            if (added.Change != FstabChange.Added) continue;
            Assert.Equal(c.Bytes, await File.ReadAllBytesAsync(editor.BackupPath));
            Assert.Equal(FstabChange.Removed, (await editor.RemoveMountAsync(c.Directory, c.Uuid)).Change);
            byte[] after = await File.ReadAllBytesAsync(path);
            Assert.True(c.Bytes.SequenceEqual(after), $"seed {seed}: add + remove on disk changed the file");
        }
    }
}
