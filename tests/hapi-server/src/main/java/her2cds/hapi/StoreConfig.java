package her2cds.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.model.entity.StorageSettings;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

import java.time.Duration;
import java.util.Properties;
import javax.sql.DataSource;

/**
 * The storage side: H2 in memory, Hibernate without Hibernate Search (no Lucene), and the JPA
 * storage settings a throw-away test server wants (client ids, expunge, no search-result reuse).
 */
@Configuration
// SubscriptionChannelConfig is only the in-JVM message queue that batch jobs (e.g. delete-expunge) use;
// no subscription matching or delivery is configured.
@Import({
	JpaR4Config.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	SubscriptionChannelConfig.class,
	ThreadPoolFactoryConfig.class
})
public class StoreConfig {

	@Bean
	public DataSource dataSource(
			@Value("${her2cds.hapi.jdbc-url:jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1}") String jdbcUrl,
			@Value("${her2cds.hapi.db-connections:10}") int connections) {
		BasicDataSource pool = new BasicDataSource();
		pool.setDriverClassName("org.h2.Driver");
		pool.setUrl(jdbcUrl);
		pool.setUsername("sa");
		pool.setPassword("");
		pool.setMaxTotal(connections);
		pool.setMaxWait(Duration.ofSeconds(30));
		return pool;
	}

	@Bean
	@Primary
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource,
			@Value("${her2cds.hapi.hbm2ddl:update}") String schemaAction) {
		LocalContainerEntityManagerFactoryBean factory =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		factory.setPersistenceUnitName("HER2CDS_HAPI");
		factory.setDataSource(dataSource);

		Properties hibernate = new Properties();
		hibernate.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		hibernate.put("hibernate.hbm2ddl.auto", schemaAction);
		hibernate.put("hibernate.format_sql", "false");
		hibernate.put("hibernate.show_sql", "false");
		hibernate.put("hibernate.jdbc.batch_size", "20");
		hibernate.put("hibernate.cache.use_query_cache", "false");
		hibernate.put("hibernate.cache.use_second_level_cache", "false");
		hibernate.put("hibernate.cache.use_structured_entries", "false");
		hibernate.put("hibernate.cache.use_minimal_puts", "false");
		// No full-text indexing: it would start Lucene and index every write
		hibernate.put("hibernate.search.enabled", "false");
		// Any -Dhibernate.xxx=... on the command line wins (for tuning without a rebuild)
		for (String name : System.getProperties().stringPropertyNames()) {
			if (name.startsWith("hibernate.")) {
				hibernate.put(name, System.getProperty(name));
			}
		}
		factory.setJpaProperties(hibernate);
		return factory;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager manager = new JpaTransactionManager();
		manager.setEntityManagerFactory(entityManagerFactory);
		return manager;
	}

	@Bean
	public JpaStorageSettings storageSettings(
			@Value("${her2cds.hapi.referential-integrity-on-delete:false}") boolean integrityOnDelete) {
		JpaStorageSettings settings = new JpaStorageSettings();
		// Test data carries its own ids ("p1", "obs-her2-1", even "123"); the server picks UUIDs
		// for resources POSTed without one.
		settings.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
		settings.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		// References to resources on other servers are stored as they are
		settings.setAllowExternalReferences(true);
		// Deleting a Patient that Observations still point to is allowed (tests clean up in any order).
		// With this off, DELETE ...?_cascade=delete has nothing to cascade on: it deletes only the target.
		// References on write are still checked, so a dangling local reference is an error.
		settings.setEnforceReferentialIntegrityOnDelete(integrityOnDelete);
		settings.setAllowMultipleDelete(true);
		// Resetting between tests: $expunge, and DELETE ...&_expunge=true
		settings.setExpungeEnabled(true);
		settings.setDeleteExpungeEnabled(true);
		// A search run twice must see the writes made in between: never answer from a cached search
		settings.setReuseCachedSearchResultsForMillis(null);
		// Stored searches (what next links page through) are dropped after 15 minutes, not an hour,
		// so long benchmarks do not pile them up in the in-memory database
		settings.setExpireSearchResultsAfterMillis(15 * 60 * 1000L);
		// Nothing full-text, no background work we do not use
		settings.setAdvancedHSearchIndexing(false);
		settings.setHibernateSearchIndexSearchParams(false);
		settings.setHibernateSearchIndexFullText(false);
		settings.setStoreResourceInHSearchIndex(false);
		settings.setMarkResourcesForReindexingUponSearchParameterChange(false);
		settings.setEnableTaskPreExpandValueSets(false);
		settings.setEnableTaskResourceReindexing(false);
		settings.setEnableTaskBulkExportJobExecution(false);
		settings.setEnableTaskBulkImportJobExecution(false);
		settings.setIndexMissingFields(StorageSettings.IndexEnabledEnum.DISABLED);
		// Batch jobs (DELETE with _expunge) move on as soon as a step ends; they still start from the
		// once-a-minute maintenance pass, so such a delete completes within about a minute
		settings.setJobFastTrackingEnabled(true);
		return settings;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		// No subscription types: nothing is matched or delivered
		return new SubscriptionSettings();
	}
}
