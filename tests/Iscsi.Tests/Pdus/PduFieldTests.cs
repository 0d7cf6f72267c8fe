using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Iscsi.Tests.Pdus;

/// <summary>The named fields and flags of <see cref="Pdu"/> against headers laid out by hand from RFC 7143 section 11.</summary>
public sealed class PduFieldTests
{
    private static byte[] Header(params (int Offset, byte Value)[] bytes)
    {
        var bhs = new byte[Pdu.BhsLength];
        foreach (var (offset, value) in bytes) bhs[offset] = value;
        return bhs;
    }

    [Fact]
    public void Login_request_fields_sit_where_section_11_12_puts_them()
    {
        var pdu = new Pdu(Opcode.LoginRequest, immediate: true, final: false);
        pdu.Stages = new LoginStages(LoginStage.SecurityNegotiation, LoginStage.OperationalNegotiation, Transit: true);
        pdu.VersionMax = 0;
        pdu.VersionMin = 0;
        new byte[] { 0x80, 1, 2, 3, 4, 5 }.CopyTo(pdu.Isid);
        pdu.Tsih = 0x0102;
        pdu.ConnectionId = 0x0304;
        var expected = Header((0, 0x43), (1, 0x81), (8, 0x80), (9, 1), (10, 2), (11, 3), (12, 4), (13, 5), (14, 1), (15, 2), (20, 3), (21, 4));
        Assert.Equal(expected, pdu.Bhs);
    }

    [Fact]
    public void Login_stages_leave_nsg_zero_without_transit_and_read_back()
    {
        var pdu = new Pdu(Opcode.LoginResponse, final: false);
        pdu.Stages = new LoginStages(LoginStage.OperationalNegotiation, LoginStage.FullFeaturePhase, Transit: false);
        pdu.Continue = true;
        Assert.Equal(0x44, pdu.Flags); // C, CSG=1, NSG=0
        pdu.Flags = 0x87; // T, CSG=1, NSG=3
        Assert.Equal(new LoginStages(LoginStage.OperationalNegotiation, LoginStage.FullFeaturePhase, true), pdu.Stages);
        Assert.False(pdu.Continue);
        Assert.Equal(LoginStages.Stay(LoginStage.SecurityNegotiation), new LoginStages(LoginStage.SecurityNegotiation, 0, false));
    }

    [Fact]
    public void Login_response_status_version_and_tsih()
    {
        var pdu = new Pdu();
        Header((3, 0), (14, 0xAB), (15, 0xCD), (36, 0x02), (37, 0x01)).CopyTo(pdu.Bhs, 0);
        Assert.Equal(0xABCD, pdu.Tsih);
        Assert.Equal(LoginStatus.AuthenticationFailure, pdu.LoginStatusCode);
        pdu.Bhs[3] = 1;
        Assert.Equal(1, pdu.VersionActive);
    }

    [Fact]
    public void Scsi_command_flags_are_final_read_write_and_attr()
    {
        var pdu = new Pdu(Opcode.ScsiCommand);
        pdu.IsRead = true;
        pdu.TaskAttribute = TaskAttribute.Simple;
        Assert.Equal(0xC1, pdu.Flags);
        pdu.IsRead = false;
        pdu.IsWrite = true;
        Assert.Equal(0xA1, pdu.Flags);
        pdu.TaskAttribute = TaskAttribute.HeadOfQueue;
        Assert.Equal(0xA3, pdu.Flags);
        Assert.True(pdu.IsWrite);
        Assert.Equal(TaskAttribute.HeadOfQueue, pdu.TaskAttribute);
    }

    [Theory]
    [InlineData(0x81, true, false, false)]
    [InlineData(0x83, true, true, false)]
    [InlineData(0x85, true, false, true)]
    [InlineData(0x80, false, false, false)]
    public void Data_in_status_and_residual_bits(byte flags, bool status, bool underflow, bool overflow)
    {
        var pdu = new Pdu();
        Header((0, (byte)Opcode.DataIn), (1, flags), (36, 0), (39, 7), (47, 9)).CopyTo(pdu.Bhs, 0);
        Assert.Equal(status, pdu.HasStatus);
        Assert.Equal(underflow, pdu.ResidualUnderflow);
        Assert.Equal(overflow, pdu.ResidualOverflow);
        Assert.False(pdu.Acknowledge);
        Assert.Equal(7u, pdu.DataSN);
        Assert.Equal(9u, pdu.ResidualCount);
    }

    [Fact]
    public void Scsi_response_exp_data_sn_is_bytes_36_to_39()
    {
        var pdu = new Pdu(Opcode.ScsiResponse) { ExpDataSN = 0x01020304, ResidualUnderflow = true };
        Assert.Equal(Header((0, (byte)Opcode.ScsiResponse), (1, 0x82), (36, 1), (37, 2), (38, 3), (39, 4)), pdu.Bhs);
    }

    [Fact]
    public void Task_management_request_fields()
    {
        var pdu = new Pdu(Opcode.TaskManagementRequest)
        {
            TaskManagementFunction = TaskManagement.AbortTask, ReferencedTaskTag = 0x11223344, RefCmdSN = 0x55667788,
        };
        Assert.Equal(Header((0, (byte)Opcode.TaskManagementRequest), (1, 0x81), (20, 0x11), (21, 0x22), (22, 0x33), (23, 0x44),
            (32, 0x55), (33, 0x66), (34, 0x77), (35, 0x88)), pdu.Bhs);
        Assert.Equal(TaskManagement.AbortTask, pdu.TaskManagementFunction);
    }

    [Fact]
    public void Logout_request_and_response_fields()
    {
        var request = new Pdu(Opcode.LogoutRequest) { LogoutReason = 2, ConnectionId = 5 };
        Assert.Equal(Header((0, (byte)Opcode.LogoutRequest), (1, 0x82), (21, 5)), request.Bhs);
        var response = new Pdu { Time2Wait = 2, Time2Retain = 20 };
        Assert.Equal(Header((41, 2), (43, 20)), response.Bhs);
    }

    [Fact]
    public void Async_message_event_and_parameters()
    {
        var pdu = new Pdu();
        Header((36, 1), (38, 0), (39, 1), (40, 0), (41, 2), (42, 0), (43, 30)).CopyTo(pdu.Bhs, 0);
        Assert.Equal(1, pdu.AsyncEvent);
        Assert.Equal(1, pdu.AsyncParameter1);
        Assert.Equal(2, pdu.AsyncParameter2);
        Assert.Equal(30, pdu.AsyncParameter3);
    }

    [Fact]
    public void Reject_reason_and_the_quoted_header()
    {
        var pdu = new Pdu(Opcode.Reject) { RejectReason = RejectReason.ProtocolError };
        Assert.Equal(0x04, pdu.Bhs[2]);
        var quoted = Header((0, 0x41), (16, 0xDE), (17, 0xAD), (18, 0xBE), (19, 0xEF));
        Assert.Equal(Opcode.ScsiCommand, Pdu.QuotedOpcode(quoted));
        Assert.Equal(0xDEADBEEFu, Pdu.QuotedInitiatorTaskTag(quoted));
    }

    [Fact]
    public void Text_continue_bit()
    {
        var pdu = new Pdu(Opcode.TextResponse, final: false) { Continue = true };
        Assert.Equal(0x40, pdu.Flags);
    }
}
