package her2cds.hapi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.Banner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.context.metrics.buffering.BufferingApplicationStartup;
import org.springframework.boot.context.metrics.buffering.StartupTimeline;
import org.springframework.context.annotation.Import;
import org.springframework.core.metrics.StartupStep;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A HAPI FHIR R4 JPA server on an in-memory H2 database, for her2-cds's integration tests and benchmarks.
 *
 * <p>Spring Boot is used only for the embedded Tomcat and for reading application.properties: no
 * classpath-wide auto-configuration, so nothing starts that we did not ask for (no JPA auto-config,
 * no Quartz auto-config, no template engine, no actuator).
 *
 * <p>{@code -Dher2cds.hapi.startup-report=true} logs the slowest bean creations once the server is up.
 */
@SpringBootConfiguration
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@Import({StoreConfig.class, EndpointConfig.class, ValidationConfig.class})
public class HapiServerApplication {

	private static final Logger LOG = LoggerFactory.getLogger(HapiServerApplication.class);

	public static void main(String[] args) {
		SpringApplication application = new SpringApplication(HapiServerApplication.class);
		application.setBannerMode(Banner.Mode.OFF);
		if (Boolean.getBoolean("her2cds.hapi.startup-report")) {
			BufferingApplicationStartup startup = new BufferingApplicationStartup(20_000);
			application.setApplicationStartup(startup);
			application.addListeners(event -> {
				if (event instanceof ApplicationReadyEvent) {
					report(startup.getBufferedTimeline());
				}
			});
		}
		application.run(args);
	}

	/** The 40 bean creations with the most time of their own (children's time taken out). */
	private static void report(StartupTimeline timeline) {
		Map<Long, Duration> childTime = new HashMap<>();
		for (StartupTimeline.TimelineEvent event : timeline.getEvents()) {
			Long parent = event.getStartupStep().getParentId();
			if (parent != null) {
				childTime.merge(parent, event.getDuration(), Duration::plus);
			}
		}
		record Row(String name, long selfMillis, long totalMillis) {}
		List<Row> rows = new ArrayList<>();
		for (StartupTimeline.TimelineEvent event : timeline.getEvents()) {
			StartupStep step = event.getStartupStep();
			String name = step.getName();
			for (StartupStep.Tag tag : step.getTags()) {
				if (tag.getKey().equals("beanName")) {
					name = name + " " + tag.getValue();
				}
			}
			Duration self = event.getDuration().minus(childTime.getOrDefault(step.getId(), Duration.ZERO));
			rows.add(new Row(name, self.toMillis(), event.getDuration().toMillis()));
		}
		rows.sort(Comparator.comparingLong(Row::selfMillis).reversed());
		StringBuilder text = new StringBuilder("Slowest startup steps (self ms / total ms):");
		rows.stream().limit(40).forEach(row ->
				text.append(String.format("%n%7d %7d  %s", row.selfMillis(), row.totalMillis(), row.name())));
		LOG.info(text.toString());
	}
}
