using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Login;

/// <summary>
/// How scripted targets answer one Login request: a Login response's bytes on the wire, or null to close the
/// connection. Shared by the in-memory <see cref="ScriptedLoginConnection"/> and the TCP target of the session tests.
/// </summary>
internal static class LoginScripts
{
    /// <summary>A Login response to <paramref name="request"/> with the given flags (T, CSG, NSG), status and text.</summary>
    public static byte[] Response(Pdu request, byte flags, TextKeys text, ushort status = 0)
    {
        using var response = new Pdu(Opcode.LoginResponse);
        response.Flags = flags;
        request.Bhs.AsSpan(8, 6).CopyTo(response.Bhs.AsSpan(8)); // ISID
        response.SetU16(14, 7); // TSIH
        response.InitiatorTaskTag = request.InitiatorTaskTag;
        response.StatSN = 1;
        response.ExpCmdSN = request.CmdSN;
        response.MaxCmdSN = request.CmdSN + 8;
        response.SetU16(36, status);
        response.SetData(text.Encode());
        var wire = new MemoryStream();
        new PduWriter(wire).WriteAsync(response, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return wire.ToArray();
    }

    private static int CurrentStage(Pdu request) => (request.Flags >> 2) & 3;

    /// <summary>No authentication: each stage moves on at once, to the full-feature phase.</summary>
    public static byte[]? WithoutAuthentication(Pdu request) => CurrentStage(request) == 0
        ? Response(request, 0x81, new TextKeys { { "AuthMethod", "None" } })
        : Response(request, 0x87, new TextKeys());

    /// <summary>Redirects every login to <paramref name="address"/> (Status-Class 1, target moved temporarily).</summary>
    public static Func<Pdu, byte[]?> RedirectTo(string address) =>
        request => Response(request, 0x80, new TextKeys { { "TargetAddress", address } }, status: 0x0101);

    /// <summary>
    /// An old target that wants CHAP: it refuses (authentication failure) any CHAP_A but <paramref name="accepted"/>,
    /// and takes any response unless <paramref name="acceptsResponse"/> is false (a wrong secret, as the target sees it).
    /// <paramref name="picks"/> overrides the algorithm it names in its answer.
    /// </summary>
    public static Func<Pdu, byte[]?> ChapTarget(string accepted = "5", bool acceptsResponse = true, string? picks = null) => request =>
    {
        if (CurrentStage(request) != 0) return Response(request, 0x87, new TextKeys());
        var keys = TextKeys.Parse(request.Data.Span);
        if (keys["AuthMethod"] is not null) return Response(request, 0x00, new TextKeys { { "AuthMethod", "CHAP" } });
        if (keys["CHAP_A"] is { } offered)
        {
            if (offered != accepted) return Response(request, 0x00, new TextKeys(), status: LoginStatus.AuthenticationFailure);
            return Response(request, 0x00, new TextKeys
            {
                { "CHAP_A", picks ?? accepted }, { "CHAP_I", "1" }, { "CHAP_C", "0x00112233445566778899aabbccddeeff" },
            });
        }
        if (keys["CHAP_R"] is not null)
            return acceptsResponse
                ? Response(request, 0x81, new TextKeys())
                : Response(request, 0x00, new TextKeys(), status: LoginStatus.AuthenticationFailure);
        return null;
    };
}
