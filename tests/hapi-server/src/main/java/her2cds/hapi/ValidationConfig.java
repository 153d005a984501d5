package her2cds.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.config.JpaConfig;
import ca.uhn.fhir.jpa.validation.JpaValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import java.util.Locale;

/**
 * Validation ($validate) uses HAPI's JPA validation chain unchanged: core R4 definitions, then the
 * StructureDefinitions, ValueSets and CodeSystems stored on this server, snapshot generation for
 * differential-only profiles, in-memory terminology and the small code systems HAPI ships (UCUM,
 * languages, ...). There is no remote terminology server, so LOINC, SNOMED CT and RxNorm codes can't be
 * checked. Left alone, HAPI reports "CodeSystem is unknown and can't be validated" as a warning, but as an
 * error where the binding is required, even for a code the (enumerated) ValueSet lists.
 *
 * <p>{@code her2cds.hapi.unknown-code-systems} (environment: {@code HER2CDS_HAPI_UNKNOWN_CODE_SYSTEMS}):
 * {@code warning} (the default here) or {@code information} adds HAPI's
 * UnknownCodeSystemWarningValidationSupport at the end of the chain, so a code from a code system the
 * server does not hold is reported at that severity whatever the binding strength; membership of a
 * ValueSet that lists its codes is still checked (a code it does not list is an error under a required
 * binding). {@code default} leaves HAPI's behaviour.
 */
@Configuration
public class ValidationConfig {

	private static final Logger LOG = LoggerFactory.getLogger(ValidationConfig.class);

	/** Marker bean: creating it adjusts the chain. */
	public static final class UnknownCodeSystems {
		private final String severity;

		UnknownCodeSystems(String severity) {
			this.severity = severity;
		}

		public String severity() {
			return severity;
		}
	}

	@Bean
	public UnknownCodeSystems unknownCodeSystems(
			@Qualifier(JpaConfig.JPA_VALIDATION_SUPPORT_CHAIN) JpaValidationSupportChain chain,
			FhirContext fhirContext,
			@Value("${her2cds.hapi.unknown-code-systems:warning}") String setting) {
		String severity = setting.trim().toLowerCase(Locale.ROOT);
		switch (severity) {
			case "default", "error" -> {
				return new UnknownCodeSystems("default");
			}
			case "warning", "information" -> {
				UnknownCodeSystemWarningValidationSupport lenient =
						new UnknownCodeSystemWarningValidationSupport(fhirContext);
				lenient.setNonExistentCodeSystemSeverity(severity.equals("warning")
						? IValidationSupport.IssueSeverity.WARNING
						: IValidationSupport.IssueSeverity.INFORMATION);
				chain.addValidationSupport(lenient);
				LOG.info("Codes from unknown code systems are reported as {}", severity);
				return new UnknownCodeSystems(severity);
			}
			default -> throw new IllegalArgumentException(
					"her2cds.hapi.unknown-code-systems must be default, warning or information, not " + setting);
		}
	}
}
