using IscsiUp.Io;
using System.Text;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Tests.Fuzz;

namespace IscsiUp.Iscsi.Tests.Fuzz;

/// <summary><see cref="TextKeys.Parse"/> on hostile bytes, and round trips of random well-formed key lists.</summary>
public sealed class TextKeysFuzzTests
{
    private const string KeyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-+@_";

    /// <summary>Bytes biased towards the ones that matter to the parser: NUL, '=', key characters, UTF-8 lead and continuation bytes.</summary>
    private static byte[] HostileText(Random r)
    {
        if (r.Next(4) == 0)
        {
            var noise = new byte[r.Next(0, 300)];
            for (int i = 0; i < noise.Length; i++) noise[i] = r.Next(8) switch { 0 => 0, 1 => (byte)'=', _ => (byte)r.Next(256) };
            return noise;
        }

        // Mostly well-framed items ("key=value" NUL) whose keys and values are random bytes, then a few mutations.
        var text = new List<byte>();
        for (int items = r.Next(0, 8); items > 0; items--)
        {
            for (int i = r.Next(r.Next(4) == 0 ? 70 : 30); i >= 0; i--)
                text.Add(r.Next(3) == 0 ? (byte)r.Next(0x80, 0x100) : (byte)KeyChars[r.Next(KeyChars.Length)]);
            if (r.Next(10) != 0) text.Add((byte)'=');
            for (int i = r.Next(0, 60); i > 0; i--)
                text.Add(r.Next(5) switch { 0 => (byte)'=', 1 => (byte)r.Next(1, 256), _ => (byte)r.Next(0x20, 0x7F) });
            text.Add(0);
            for (int i = r.Next(0, 3); i > 0; i--) text.Add(0);
        }
        for (int i = r.Next(0, 3); i > 0 && text.Count > 0; i--)
            text[r.Next(text.Count)] = r.Next(3) switch { 0 => 0, 1 => (byte)'=', _ => (byte)r.Next(256) };
        if (r.Next(8) == 0 && text.Count > 0) text.RemoveAt(text.Count - 1);
        return [.. text];
    }

    [Fact]
    public void Random_bytes_parse_or_throw_a_protocol_exception_only()
    {
        int parsed = 0, refused = 0;
        FuzzRunner.Run(defaultSeed: 2_000, defaultCases: 5_000, (seed, r) =>
        {
            byte[] text = HostileText(r);
            TextKeys keys;
            try
            {
                keys = TextKeys.Parse(text);
            }
            catch (ProtocolException e)
            {
                refused++;
                Assert.DoesNotContain('\0', e.Message);
                Assert.True(e.Message.Length < 200, "error message should stay short: " + e.Message);
                return;
            }
            parsed++;
            Assert.True(text.Length == 0 || text[^1] == 0, "accepted text without a final NUL");
            foreach (var (key, value) in keys)
            {
                Assert.NotEmpty(key);
                Assert.DoesNotContain('=', key);
                Assert.DoesNotContain('\0', key);
                Assert.DoesNotContain('\0', value);
            }
        });
        Assert.True(parsed > 200 && refused > 200, $"parsed {parsed}, refused {refused}");
    }

    private static string RandomKey(Random r)
    {
        var key = new char[r.Next(1, TextKeys.MaxKeyLength + 1)];
        for (int i = 0; i < key.Length; i++) key[i] = KeyChars[r.Next(KeyChars.Length)];
        return new string(key);
    }

    /// <summary>A character from the range that may appear in a value: no control or format characters (RFC 7143 6.1).</summary>
    private static char Printable(Random r, int from, int to)
    {
        while (true)
        {
            char c = (char)r.Next(from, to);
            if (PeerText.IsPrintable(c.ToString())) return c;
        }
    }

    private static string RandomValue(Random r)
    {
        var value = new StringBuilder();
        for (int i = r.Next(0, 80); i > 0; i--)
        {
            value.Append(r.Next(6) switch
            {
                0 => '=',
                1 => ',',
                2 => Printable(r, 0x80, 0x800),  // two-byte UTF-8
                3 => Printable(r, 0x3000, 0xD000), // three-byte UTF-8, no surrogates
                _ => (char)r.Next(0x20, 0x7F),
            });
        }
        if (r.Next(10) == 0) value.Append("\U0001F4BE"); // a surrogate pair, four UTF-8 bytes
        return value.ToString();
    }

    [Fact]
    public void Random_valid_key_lists_round_trip_exactly()
    {
        FuzzRunner.Run(defaultSeed: 3_000, defaultCases: 3_000, (seed, r) =>
        {
            var keys = new TextKeys();
            string? repeated = null;
            for (int i = r.Next(0, 12); i > 0; i--)
            {
                string key = repeated is not null && r.Next(4) == 0 ? repeated : RandomKey(r);
                repeated = key;
                keys.Add(key, RandomValue(r));
            }

            byte[] wire = keys.Encode();
            var parsed = TextKeys.Parse(wire);
            Assert.Equal(keys.ToList(), parsed.ToList()); // order and repeated keys kept
            Assert.Equal(wire, parsed.Encode());

            // Padding NULs anywhere between pairs (and after the last) change nothing.
            var padded = new List<byte>();
            foreach (var pair in keys)
            {
                padded.AddRange(Enumerable.Repeat((byte)0, r.Next(0, 3)));
                padded.AddRange(new TextKeys { pair }.Encode());
            }
            padded.AddRange(Enumerable.Repeat((byte)0, r.Next(0, 4)));
            Assert.Equal(keys.ToList(), TextKeys.Parse(padded.ToArray()).ToList());

            // Without its final NUL the text is incomplete.
            if (wire.Length > 0)
                Assert.Throws<ProtocolException>(() => TextKeys.Parse(wire.AsSpan(0, wire.Length - 1)));
        });
    }

    [Fact]
    public void Keys_at_and_over_the_length_limit()
    {
        FuzzRunner.Run(defaultSeed: 3_500, defaultCases: 200, (seed, r) =>
        {
            string key = new(Enumerable.Range(0, TextKeys.MaxKeyLength).Select(_ => KeyChars[r.Next(KeyChars.Length)]).ToArray());
            Assert.Equal(key, TextKeys.Parse(Encoding.UTF8.GetBytes(key + "=v\0")).Single().Key);
            string longer = key + KeyChars[r.Next(KeyChars.Length)];
            Assert.Throws<ProtocolException>(() => TextKeys.Parse(Encoding.UTF8.GetBytes(longer + "=v\0")));
        });
    }

    /// <summary>
    /// Whatever Parse accepts, this implementation must be able to send back (the initiator echoes unknown
    /// keys as <c>key=NotUnderstood</c>): the parsed list must encode to text that parses to the same list.
    /// </summary>
    [Fact]
    public void Anything_parsed_re_encodes_to_text_that_parses_the_same()
    {
        // Keys that are not RFC key characters are refused outright rather than decoded lossily.
        byte[] invalidKey = [.. Enumerable.Repeat((byte)0xFF, TextKeys.MaxKeyLength), (byte)'=', (byte)'v', 0];
        Assert.Throws<ProtocolException>(() => TextKeys.Parse(invalidKey));

        FuzzRunner.Run(defaultSeed: 4_000, defaultCases: 5_000, (seed, r) =>
        {
            byte[] text = HostileText(r);
            TextKeys keys;
            try { keys = TextKeys.Parse(text); }
            catch (ProtocolException) { return; }
            Assert.Equal(keys.ToList(), TextKeys.Parse(keys.Encode()).ToList());
        });
    }
}
