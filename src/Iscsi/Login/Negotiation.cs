namespace IscsiUp.Iscsi.Login;

/// <summary>
/// The negotiation rules of RFC 7143 section 6.2, used by both sides: the responder computes its answer to an
/// offer, the originator checks that an answer is one the rules allow.
/// </summary>
public static class Negotiation
{
    /// <summary>
    /// The responder's answer to <paramref name="offered"/> given its own acceptable <paramref name="local"/> value
    /// (for lists: its supported values, comma-separated, in preference order).
    /// </summary>
    public static string Answer(KeyDefinition key, string offered, string local)
    {
        switch (key.Kind)
        {
            case KeyKind.BooleanAnd:
            case KeyKind.BooleanOr:
                if (!KeyValues.TryParseBoolean(offered, out bool theirs) || !KeyValues.TryParseBoolean(local, out bool ours))
                    return KeyValues.Reject;
                return KeyValues.Format(key.Kind == KeyKind.BooleanAnd ? theirs && ours : theirs || ours);
            case KeyKind.NumericMin:
            case KeyKind.NumericMax:
                if (!KeyValues.TryParseNumber(offered, out long offer) || offer < key.Min || offer > key.Max ||
                    !KeyValues.TryParseNumber(local, out long mine))
                    return KeyValues.Reject;
                return KeyValues.Format(key.Kind == KeyKind.NumericMin ? Math.Min(offer, mine) : Math.Max(offer, mine));
            case KeyKind.List:
                var supported = local.Split(',');
                foreach (var candidate in offered.Split(','))
                    if (supported.Contains(candidate)) return candidate;
                return KeyValues.Reject;
            default:
                throw new InvalidOperationException($"{key.Name} is declarative and takes no answer");
        }
    }

    /// <summary>
    /// Checks the responder's <paramref name="answer"/> to our <paramref name="offered"/> value and returns the
    /// value now in force, or an error message when the answer breaks the rules.
    /// </summary>
    public static (string? Value, string? Error) Settle(KeyDefinition key, string offered, string answer)
    {
        if (answer == KeyValues.Irrelevant || answer == KeyValues.NotUnderstood) return (null, null);
        if (answer == KeyValues.Reject) return (null, null);
        switch (key.Kind)
        {
            case KeyKind.BooleanAnd:
                if (!KeyValues.TryParseBoolean(answer, out bool and)) return (null, $"{key.Name}={answer} is not Yes or No");
                if (offered == KeyValues.No && and) return (null, $"{key.Name}: answered Yes to our No");
                return (answer, null);
            case KeyKind.BooleanOr:
                if (!KeyValues.TryParseBoolean(answer, out bool or)) return (null, $"{key.Name}={answer} is not Yes or No");
                if (offered == KeyValues.Yes && !or) return (null, $"{key.Name}: answered No to our Yes");
                return (answer, null);
            case KeyKind.NumericMin:
            case KeyKind.NumericMax:
                if (!KeyValues.TryParseNumber(answer, out long value) || value < key.Min || value > key.Max)
                    return (null, $"{key.Name}={answer} is out of range");
                KeyValues.TryParseNumber(offered, out long offer);
                if (key.Kind == KeyKind.NumericMin ? value > offer : value < offer)
                    return (null, $"{key.Name}={answer} breaks the {(key.Kind == KeyKind.NumericMin ? "minimum" : "maximum")} rule for our {offered}");
                return (KeyValues.Format(value), null);
            case KeyKind.List:
                if (!offered.Split(',').Contains(answer)) return (null, $"{key.Name}={answer} was not among the offered {offered}");
                return (answer, null);
            default:
                return (answer, null);
        }
    }
}
