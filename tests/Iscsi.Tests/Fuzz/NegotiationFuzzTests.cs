using System.Globalization;
using IscsiUp.Iscsi.Login;
using IscsiUp.Initiator.Tests.Fuzz;

namespace IscsiUp.Iscsi.Tests.Fuzz;

/// <summary>
/// <see cref="Negotiation.Answer"/> and <see cref="Negotiation.Settle"/> with whatever a peer might send: they never
/// throw (except Answer's documented InvalidOperationException for declarative keys), and an answer computed by the
/// responder rules is always one the originator rules accept.
/// </summary>
public sealed class NegotiationFuzzTests
{
    private static readonly string[] KnownNames = LoginKeys.All.Select(k => k.Name).ToArray();

    private static readonly string[] Specials = ["Yes", "No", "Reject", "Irrelevant", "NotUnderstood", "None", "CRC32C", "CHAP", ""];

    private static KeyDefinition RandomKey(Random r)
    {
        if (r.Next(3) != 0) return LoginKeys.Find(KnownNames[r.Next(KnownNames.Length)])!;
        var kind = (KeyKind)r.Next(Enum.GetValues<KeyKind>().Length);
        long min = r.Next(3) switch { 0 => 0, 1 => r.NextInt64(0, 1 << 20), _ => r.NextInt64(long.MinValue, long.MaxValue) };
        long max = r.Next(3) switch { 0 => min, 1 => min + r.NextInt64(0, 1 << 24), _ => r.NextInt64(long.MinValue, long.MaxValue) };
        return new KeyDefinition("X-fuzz" + r.Next(100), kind, min, max);
    }

    /// <summary>Strings a hostile peer might put in a value: numbers of every shape, booleans, lists, junk.</summary>
    private static string RandomValue(Random r)
    {
        switch (r.Next(12))
        {
            case 0: return Specials[r.Next(Specials.Length)];
            case 1: return r.NextInt64(0, 1 << 25).ToString(CultureInfo.InvariantCulture);
            case 2: return "0x" + r.NextInt64().ToString(r.Next(2) == 0 ? "x" : "X", CultureInfo.InvariantCulture);
            case 3: return r.Next(2) == 0 ? "0x" : "0X" + new string('F', r.Next(1, 20));
            case 4: return r.Next(2) == 0 ? "-1" : "99999999999999999999999999";
            case 5: return " " + r.Next(1000) + (r.Next(2) == 0 ? " " : "");
            case 6: return string.Join(",", Enumerable.Range(0, r.Next(0, 5)).Select(_ => Specials[r.Next(Specials.Length)]));
            case 7: return new string(',', r.Next(0, 4));
            case 8: return "+" + r.Next(1000);
            case 9: return r.Next(512, 16777216).ToString(CultureInfo.InvariantCulture) + (r.Next(2) == 0 ? ".5" : "e3");
            case 10: return "\u0663\u0664"; // Arabic-Indic digits: not iSCSI numbers
            default:
                var junk = new char[r.Next(0, 40)];
                for (int i = 0; i < junk.Length; i++) junk[i] = (char)r.Next(0, 0xD800);
                return new string(junk);
        }
    }

    [Fact]
    public void Answer_and_settle_never_throw_on_random_values()
    {
        var answers = new Dictionary<string, int>();
        FuzzRunner.Run(defaultSeed: 5_000, defaultCases: 20_000, (seed, r) =>
        {
            var key = RandomKey(r);
            string offered = RandomValue(r), local = RandomValue(r), answer = RandomValue(r);

            if (key.Kind == KeyKind.Declarative)
            {
                var error = Assert.Throws<InvalidOperationException>(() => Negotiation.Answer(key, offered, local));
                Assert.Contains(key.Name, error.Message);
            }
            else
            {
                string ours = Negotiation.Answer(key, offered, local);
                Assert.NotNull(ours);
                string shape = ours == KeyValues.Reject ? "reject" : "value";
                answers[shape] = answers.GetValueOrDefault(shape) + 1;
            }

            var (value, problem) = Negotiation.Settle(key, offered, answer);
            Assert.False(value is not null && problem is not null, "Settle returned both a value and an error");
            if (problem is not null) Assert.Contains(key.Name, problem);
        });
        Assert.True(answers.GetValueOrDefault("value") > 100 && answers.GetValueOrDefault("reject") > 100, string.Join(", ", answers));
    }

    /// <summary>A value this side could offer for <paramref name="key"/>: in range, in the key's own syntax.</summary>
    private static string LegalValue(Random r, KeyDefinition key, bool list = true) => key.Kind switch
    {
        KeyKind.BooleanAnd or KeyKind.BooleanOr => r.Next(2) == 0 ? KeyValues.Yes : KeyValues.No,
        KeyKind.NumericMin or KeyKind.NumericMax =>
            r.Next(4) == 0
                ? "0x" + r.NextInt64(key.Min, key.Max + 1).ToString("x", CultureInfo.InvariantCulture)
                : r.NextInt64(key.Min, key.Max + 1).ToString(CultureInfo.InvariantCulture),
        KeyKind.List => string.Join(",", Enumerable.Range(0, list ? r.Next(1, 4) : 1).Select(_ => new[] { "None", "CRC32C", "CHAP", "X" }[r.Next(4)])),
        _ => "v",
    };

    [Fact]
    public void What_the_responder_rules_answer_the_originator_rules_accept()
    {
        string[] negotiated = KnownNames.Where(n => LoginKeys.Find(n)!.Kind != KeyKind.Declarative).ToArray();
        FuzzRunner.Run(defaultSeed: 6_000, defaultCases: 20_000, (seed, r) =>
        {
            var key = LoginKeys.Find(negotiated[r.Next(negotiated.Length)])!;
            string offered = LegalValue(r, key);
            string local = LegalValue(r, key);

            string answer = Negotiation.Answer(key, offered, local);
            var (value, problem) = Negotiation.Settle(key, offered, answer);

            Assert.Null(problem);
            if (answer == KeyValues.Reject)
            {
                Assert.Null(value);
                Assert.Equal(KeyKind.List, key.Kind); // only a list without a common value is refused
                Assert.Empty(offered.Split(',').Intersect(local.Split(',')));
                return;
            }
            Assert.NotNull(value);
            switch (key.Kind)
            {
                case KeyKind.NumericMin or KeyKind.NumericMax:
                    KeyValues.TryParseNumber(offered, out long o);
                    KeyValues.TryParseNumber(local, out long l);
                    Assert.Equal((key.Kind == KeyKind.NumericMin ? Math.Min(o, l) : Math.Max(o, l)).ToString(CultureInfo.InvariantCulture), value);
                    break;
                case KeyKind.BooleanAnd:
                    Assert.Equal(offered == "Yes" && local == "Yes" ? "Yes" : "No", value);
                    break;
                case KeyKind.BooleanOr:
                    Assert.Equal(offered == "Yes" || local == "Yes" ? "Yes" : "No", value);
                    break;
                case KeyKind.List:
                    Assert.Equal(offered.Split(',').First(local.Split(',').Contains), value); // the originator's preference wins
                    break;
            }
        });
    }

    [Fact]
    public void Settle_refuses_every_answer_that_breaks_the_rules()
    {
        FuzzRunner.Run(defaultSeed: 7_000, defaultCases: 20_000, (seed, r) =>
        {
            var key = LoginKeys.Find(KnownNames[r.Next(KnownNames.Length)])!;
            if (key.Kind == KeyKind.Declarative) return;
            string offered = LegalValue(r, key);
            string answer = r.Next(2) == 0 ? LegalValue(r, key, list: false) : RandomValue(r);
            var (value, problem) = Negotiation.Settle(key, offered, answer);
            if (answer is KeyValues.Reject or KeyValues.Irrelevant or KeyValues.NotUnderstood)
            {
                Assert.Null(value);
                Assert.Null(problem);
                return;
            }

            bool allowed = key.Kind switch
            {
                KeyKind.BooleanAnd => answer is "Yes" or "No" && !(offered == "No" && answer == "Yes"),
                KeyKind.BooleanOr => answer is "Yes" or "No" && !(offered == "Yes" && answer == "No"),
                KeyKind.NumericMin or KeyKind.NumericMax =>
                    KeyValues.TryParseNumber(answer, out long a) && a >= key.Min && a <= key.Max &&
                    KeyValues.TryParseNumber(offered, out long o) && (key.Kind == KeyKind.NumericMin ? a <= o : a >= o),
                KeyKind.List => offered.Split(',').Contains(answer),
                _ => true,
            };
            Assert.True(allowed == (problem is null), $"{key.Name}: offered {offered}, answered '{answer}': {problem ?? "accepted"}");
            Assert.Equal(allowed, value is not null);
        });
    }
}
