using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>
/// Where a Login PDU stands (RFC 7143 section 11.12.1): its stage (CSG) and, when <see cref="Transit"/> is set,
/// the stage the sender wants to move to (NSG).
/// </summary>
public readonly record struct LoginStages(LoginStage Current, LoginStage Next, bool Transit)
{
    /// <summary>Stays in <paramref name="current"/>: T clear and NSG 0.</summary>
    public static LoginStages Stay(LoginStage current) => new(current, 0, false);
}
