using System.Text.Json;
using System.Text.Json.Serialization;

namespace CrabLambda.Hosting.Json;

/// <summary>
/// JSON text that is already valid JSON (an event, a handler's return value) and is written into a response as it
/// is, so the invoke path never parses it again.
/// </summary>
/// <param name="Text">The JSON text, or <see langword="null"/> for JSON <c>null</c>.</param>
[JsonConverter(typeof(RawJsonConverter))]
internal readonly record struct RawJson(string? Text);

/// <summary>
/// Writes <see cref="RawJson"/> verbatim and reads any JSON value back as its text.
/// </summary>
internal sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override bool HandleNull => true;

    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options)
    {
        if (value.Text is null)
        {
            writer.WriteNullValue();
            return;
        }

        // The text was validated when it was stored (events here, outputs by the executor).
        writer.WriteRawValue(value.Text, skipInputValidation: true);
    }
}
